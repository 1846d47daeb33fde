#include "grid.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace sweep {
namespace {

/// A decimal number written as `mantissa * 10^exponent`, read exactly from its text.
struct Decimal {
  std::int64_t mantissa = 0;
  int exponent = 0;
};

/// Whether `text` is a number: optional sign, digits with an optional '.', optional exponent.
bool looks_numeric(std::string_view text) {
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  std::size_t digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    std::size_t exponent_digits = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
      ++i, ++exponent_digits;
    }
    if (exponent_digits == 0) return false;
  }
  return i == text.size();
}

/// The exact decimal value of a numeric text, or nothing when it has too many digits (or too
/// large an exponent) to be held exactly.
std::optional<Decimal> read_decimal(std::string_view text) {
  Decimal d;
  std::size_t i = 0;
  bool negative = false;
  if (text[i] == '+' || text[i] == '-') negative = text[i++] == '-';
  bool after_point = false;
  for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
    if (text[i] == '.') {
      after_point = true;
      continue;
    }
    const int digit = text[i] - '0';
    if (d.mantissa > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return std::nullopt;
    d.mantissa = d.mantissa * 10 + digit;
    if (after_point) --d.exponent;
  }
  if (i < text.size()) {
    int exponent = 0;
    std::string_view rest = text.substr(i + 1);
    if (!rest.empty() && rest.front() == '+') rest.remove_prefix(1);
    const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), exponent);
    if (error != std::errc{} || end != rest.data() + rest.size() || std::abs(exponent) > 40) {
      return std::nullopt;
    }
    d.exponent += exponent;
  }
  if (negative) d.mantissa = -d.mantissa;
  return d;
}

/// `value * 10^shift` for shift >= 0, or nothing on overflow.
std::optional<std::int64_t> scaled(std::int64_t value, int shift) {
  for (int k = 0; k < shift; ++k) {
    if (__builtin_mul_overflow(value, std::int64_t{10}, &value)) return std::nullopt;
  }
  return value;
}

/// `value / 10^decimals` in plain decimal notation, without trailing zeros.
std::string format_scaled(std::int64_t value, int decimals) {
  const bool negative = value < 0;
  // The magnitude as text (an unsigned so that INT64_MIN works too).
  const std::uint64_t magnitude =
      negative ? ~static_cast<std::uint64_t>(value) + 1 : static_cast<std::uint64_t>(value);
  std::string digits = std::to_string(magnitude);
  if (decimals > 0) {
    const auto width = static_cast<std::size_t>(decimals) + 1;
    if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
    digits.insert(digits.size() - static_cast<std::size_t>(decimals), 1, '.');
    while (digits.back() == '0') digits.pop_back();
    if (digits.back() == '.') digits.pop_back();
  }
  if (negative && digits != "0") digits.insert(0, 1, '-');
  return digits;
}

/// The shortest text that reads back as `value`.
std::string format_double(double value) {
  if (value == 0) value = 0;  // no "-0"
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return {buffer, result.ptr};
}

std::size_t checked_count(long double count) {
  if (count + 1 > static_cast<long double>(max_points)) {
    throw UsageError("the range has more than " + std::to_string(max_points) + " values");
  }
  return static_cast<std::size_t>(count) + 1;
}

/// expand_range when every part is an exact decimal with a common scale that fits.
std::optional<std::vector<std::string>> expand_exact(const Decimal& start, const Decimal& stop,
                                                     const Decimal& step) {
  const int scale = std::min({start.exponent, stop.exponent, step.exponent, 0});
  const auto a = scaled(start.mantissa, start.exponent - scale);
  const auto b = scaled(stop.mantissa, stop.exponent - scale);
  const auto s = scaled(step.mantissa, step.exponent - scale);
  if (!a || !b || !s) return std::nullopt;
  std::int64_t difference = 0;
  if (__builtin_sub_overflow(*b, *a, &difference)) return std::nullopt;
  if (difference != 0 && (difference > 0) != (*s > 0)) return std::vector<std::string>{};
  const std::size_t count = checked_count(static_cast<long double>(difference / *s));
  std::vector<std::string> values;
  values.reserve(count);
  for (std::size_t k = 0; k < count; ++k) {
    values.push_back(format_scaled(*a + static_cast<std::int64_t>(k) * *s, -scale));
  }
  return values;
}

}  // namespace

bool is_reserved_name(std::string_view name) {
  for (std::string_view reserved :
       {"exit_code", "seconds", "attempts", "output", "error", "stderr"}) {
    if (name == reserved) return true;
  }
  return false;
}

void check_name(std::string_view name) {
  if (name.empty()) throw UsageError("a parameter needs a name (NAME=VALUES)");
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_' && c != '-' && c != '.') {
      throw UsageError("parameter name '" + std::string(name) +
                       "': use letters, digits, '_', '-' and '.' only");
    }
  }
  if (is_reserved_name(name)) {
    throw UsageError("parameter name '" + std::string(name) +
                     "' is taken by an output column (exit_code, seconds, attempts, output, "
                     "error, stderr)");
  }
}

std::vector<std::string> expand_range(std::string_view start, std::string_view stop,
                                      std::string_view step) {
  const std::string range = std::string(start) + ":" + std::string(stop) + ":" + std::string(step);
  for (std::string_view part : {start, stop, step}) {
    if (!looks_numeric(part)) {
      throw UsageError("range " + range + ": '" + std::string(part) +
                       "' is not a number (a range is START:STOP:STEP)");
    }
  }
  const double a = std::strtod(std::string(start).c_str(), nullptr);
  const double b = std::strtod(std::string(stop).c_str(), nullptr);
  const double s = std::strtod(std::string(step).c_str(), nullptr);
  if (!std::isfinite(a) || !std::isfinite(b) || !std::isfinite(s)) {
    throw UsageError("range " + range + ": the numbers must be finite");
  }
  if (s == 0) throw UsageError("range " + range + ": the step is zero");
  const auto wrong_direction = [&] {
    return UsageError("range " + range + ": the step " + (s > 0 ? "is positive" : "is negative") +
                      " but STOP is " + (s > 0 ? "below" : "above") + " START");
  };
  if ((b - a) * s < 0) throw wrong_direction();
  const auto da = read_decimal(start), db = read_decimal(stop), ds = read_decimal(step);
  if (da && db && ds) {
    if (auto values = expand_exact(*da, *db, *ds)) {
      if (values->empty()) throw wrong_direction();
      return *values;
    }
  }
  // Too many digits to step exactly: in doubles, with a tolerance of 1e-9 steps for STOP.
  const double steps = (b - a) / s;
  const std::size_t count = checked_count(std::floor(steps + 1e-9 * std::max(1.0, steps)));
  std::vector<std::string> values;
  values.reserve(count);
  for (std::size_t k = 0; k < count; ++k) {
    values.push_back(format_double(a + static_cast<double>(k) * s));
  }
  return values;
}

Parameter parse_param(std::string_view spec) {
  const auto equals = spec.find('=');
  if (equals == std::string_view::npos) {
    throw UsageError("--param " + std::string(spec) +
                     ": expected NAME=V1,V2,... or NAME=START:STOP:STEP");
  }
  Parameter parameter;
  parameter.name = std::string(spec.substr(0, equals));
  check_name(parameter.name);
  const std::string_view values = spec.substr(equals + 1);
  if (values.empty()) throw UsageError("--param " + std::string(spec) + ": no values");
  if (values.find(',') == std::string_view::npos && values.find(':') != std::string_view::npos) {
    const auto first = values.find(':');
    const auto second = values.find(':', first + 1);
    if (second == std::string_view::npos ||
        values.find(':', second + 1) != std::string_view::npos) {
      throw UsageError("--param " + std::string(spec) +
                       ": a range is START:STOP:STEP (for a list use commas)");
    }
    parameter.values =
        expand_range(values.substr(0, first), values.substr(first + 1, second - first - 1),
                     values.substr(second + 1));
    return parameter;
  }
  std::size_t begin = 0;
  while (true) {
    const auto comma = values.find(',', begin);
    const auto value =
        values.substr(begin, comma == std::string_view::npos ? values.npos : comma - begin);
    if (value.empty()) throw UsageError("--param " + std::string(spec) + ": an empty value");
    parameter.values.emplace_back(value);
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return parameter;
}

Grid product(const std::vector<Parameter>& parameters) {
  if (parameters.empty()) throw UsageError("no parameters: give --param or --grid");
  Grid grid;
  std::set<std::string> seen;
  std::size_t count = 1;
  for (const auto& parameter : parameters) {
    check_name(parameter.name);
    if (!seen.insert(parameter.name).second) {
      throw UsageError("parameter '" + parameter.name + "' is given twice");
    }
    if (parameter.values.empty()) {
      throw UsageError("parameter '" + parameter.name + "' has no values");
    }
    if (count > max_points / parameter.values.size()) {
      throw UsageError("the grid has more than " + std::to_string(max_points) + " points");
    }
    count *= parameter.values.size();
    grid.names.push_back(parameter.name);
  }
  grid.points.reserve(count);
  std::vector<std::size_t> index(parameters.size(), 0);
  for (std::size_t n = 0; n < count; ++n) {
    std::vector<std::string> point;
    point.reserve(parameters.size());
    for (std::size_t k = 0; k < parameters.size(); ++k) {
      point.push_back(parameters[k].values[index[k]]);
    }
    grid.points.push_back(std::move(point));
    // The last parameter varies fastest: an odometer.
    for (std::size_t k = parameters.size(); k-- > 0;) {
      if (++index[k] < parameters[k].values.size()) break;
      index[k] = 0;
    }
  }
  return grid;
}

namespace {

using Json = nlohmann::ordered_json;

std::string value_text(const Json& value, const std::string& where) {
  switch (value.type()) {
    case Json::value_t::string:
      return value.get<std::string>();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
    case Json::value_t::boolean:
      return value.dump();
    default:
      throw UsageError(where + ": a value must be a string, a number or a boolean, not " +
                       value.dump());
  }
}

}  // namespace

Grid grid_from_json(std::string_view text) {
  Json json;
  try {
    json = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    throw UsageError(std::string("not valid JSON: ") + e.what());
  }
  if (json.is_object()) {
    std::vector<Parameter> parameters;
    for (const auto& [name, values] : json.items()) {
      Parameter parameter{name, {}};
      if (values.is_array()) {
        for (const auto& value : values) parameter.values.push_back(value_text(value, name));
      } else {
        parameter.values.push_back(value_text(values, name));
      }
      if (parameter.values.empty()) throw UsageError("parameter '" + name + "' has no values");
      parameters.push_back(std::move(parameter));
    }
    return product(parameters);
  }
  if (json.is_array()) {
    if (json.empty()) throw UsageError("the grid is an empty array: no points");
    if (json.size() > max_points) {
      throw UsageError("the grid has more than " + std::to_string(max_points) + " points");
    }
    Grid grid;
    for (std::size_t i = 0; i < json.size(); ++i) {
      const Json& object = json[i];
      const std::string where = "point " + std::to_string(i);
      if (!object.is_object()) throw UsageError(where + " is not an object");
      if (i == 0) {
        if (object.empty()) throw UsageError("point 0 has no parameters");
        for (const auto& [name, value] : object.items()) {
          check_name(name);
          grid.names.push_back(name);
        }
      }
      if (object.size() != grid.names.size()) {
        throw UsageError(where + " has other parameters than point 0");
      }
      std::vector<std::string> point;
      for (const auto& name : grid.names) {
        const auto found = object.find(name);
        if (found == object.end()) throw UsageError(where + " has no parameter '" + name + "'");
        point.push_back(value_text(*found, where + ", " + name));
      }
      grid.points.push_back(std::move(point));
    }
    return grid;
  }
  throw UsageError("a grid is an object of lists or an array of objects");
}

Grid load_grid_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("--grid " + path + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return grid_from_json(text.str());
  } catch (const UsageError& e) {
    throw UsageError("--grid " + path + ": " + e.what());
  }
}

CommandTemplate::CommandTemplate(const std::vector<std::string>& arguments,
                                 const std::vector<std::string>& names) {
  for (const std::string& argument : arguments) {
    std::vector<Piece> pieces;
    std::string literal;
    for (std::size_t i = 0; i < argument.size(); ++i) {
      const char c = argument[i];
      if (c == '{' && i + 1 < argument.size() && argument[i + 1] == '{') {
        literal += '{';
        ++i;
      } else if (c == '}' && i + 1 < argument.size() && argument[i + 1] == '}') {
        literal += '}';
        ++i;
      } else if (c == '{') {
        const auto close = argument.find('}', i + 1);
        if (close == std::string::npos) {
          throw UsageError("argument '" + argument + "': '{' without '}' (write {{ for a brace)");
        }
        const std::string name = argument.substr(i + 1, close - i - 1);
        const auto found = std::find(names.begin(), names.end(), name);
        if (found == names.end()) {
          std::string known;
          for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
          throw UsageError("argument '" + argument + "': unknown parameter {" + name +
                           "} (parameters: " + known + ")");
        }
        if (!literal.empty()) pieces.push_back({std::move(literal), -1});
        literal.clear();
        pieces.push_back({"", static_cast<int>(found - names.begin())});
        i = close;
      } else if (c == '}') {
        throw UsageError("argument '" + argument + "': '}' without '{' (write }} for a brace)");
      } else {
        literal += c;
      }
    }
    if (!literal.empty() || pieces.empty()) pieces.push_back({std::move(literal), -1});
    arguments_.push_back(std::move(pieces));
  }
}

std::vector<std::string> CommandTemplate::expand(const std::vector<std::string>& point) const {
  std::vector<std::string> out;
  out.reserve(arguments_.size());
  for (const auto& pieces : arguments_) {
    std::string argument;
    for (const auto& piece : pieces) {
      argument +=
          piece.parameter < 0 ? piece.literal : point.at(static_cast<std::size_t>(piece.parameter));
    }
    out.push_back(std::move(argument));
  }
  return out;
}

std::string shell_quote(std::string_view argument) {
  const bool plain = !argument.empty() && std::all_of(argument.begin(), argument.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("_-.,/:=+@%").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(argument);
  std::string quoted = "'";
  for (char c : argument) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

}  // namespace sweep
