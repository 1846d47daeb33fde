#include "output.hpp"

#include <cctype>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace sweep {
namespace {

using Json = nlohmann::ordered_json;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// A JSON string literal; invalid UTF-8 becomes U+FFFD instead of an error.
std::string json_string(const std::string& text) {
  return Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string json_text(const Value& value) {
  switch (value.type) {
    case Value::Type::text:
      return json_string(value.text);
    case Value::Type::number:
    case Value::Type::json:
      return value.text;
    case Value::Type::null:
      break;
  }
  return "null";
}

Value field_value(const Json& json) {
  switch (json.type()) {
    case Json::value_t::string:
      return Value::of_text(json.get<std::string>());
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return Value::of_number(json.dump());
    case Json::value_t::null:
      return {};
    default:
      return Value::of_json(json.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
}

}  // namespace

Format format_for(std::string_view path) {
  constexpr std::string_view suffix = ".jsonl";
  return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix
             ? Format::jsonl
             : Format::csv;
}

bool is_json_number(std::string_view t) {
  std::size_t i = 0;
  if (i < t.size() && t[i] == '-') ++i;
  if (i >= t.size()) return false;
  if (t[i] == '0') {
    ++i;
  } else if (is_digit(t[i])) {
    while (i < t.size() && is_digit(t[i])) ++i;
  } else {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (i >= t.size() || !is_digit(t[i])) return false;
    while (i < t.size() && is_digit(t[i])) ++i;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (i >= t.size() || !is_digit(t[i])) return false;
    while (i < t.size() && is_digit(t[i])) ++i;
  }
  return i == t.size();
}

Value Value::guess(std::string s) {
  return is_json_number(s) ? of_number(std::move(s)) : of_text(std::move(s));
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

Table::Table(std::vector<std::string> lead, std::vector<std::string> trail)
    : lead_(std::move(lead)), trail_(std::move(trail)) {}

void Table::add(std::vector<Value> lead, const std::vector<std::pair<std::string, Value>>& fields,
                std::vector<Value> trail) {
  Row row{std::move(lead), {}, std::move(trail)};
  for (const auto& [field, value] : fields) {
    std::string name = field;
    const auto fixed = [&](const std::string& n) {
      for (const auto& column : lead_) {
        if (column == n) return true;
      }
      for (const auto& column : trail_) {
        if (column == n) return true;
      }
      return false;
    };
    while (fixed(name)) name = "json." + name;
    auto [place, added] = field_index_.try_emplace(name, fields_.size());
    if (added) fields_.push_back(name);
    row.fields.emplace_back(place->second, value);
  }
  rows_.push_back(std::move(row));
}

std::vector<std::string> Table::columns() const {
  std::vector<std::string> columns = lead_;
  columns.insert(columns.end(), fields_.begin(), fields_.end());
  columns.insert(columns.end(), trail_.begin(), trail_.end());
  return columns;
}

std::vector<Value> Table::row(std::size_t i) const {
  const Row& row = rows_.at(i);
  std::vector<Value> cells = row.lead;
  cells.resize(lead_.size());
  std::vector<Value> fields(fields_.size());
  for (const auto& [column, value] : row.fields) fields[column] = value;
  cells.insert(cells.end(), fields.begin(), fields.end());
  std::vector<Value> trail = row.trail;
  trail.resize(trail_.size());
  cells.insert(cells.end(), trail.begin(), trail.end());
  return cells;
}

void write_header(std::ostream& out, Format format, const std::vector<std::string>& columns) {
  if (format != Format::csv) return;
  for (std::size_t k = 0; k < columns.size(); ++k) {
    out << (k == 0 ? "" : ",") << csv_field(columns[k]);
  }
  out << '\n';
}

void write_row(std::ostream& out, Format format, const std::vector<std::string>& columns,
               const std::vector<Value>& cells) {
  if (format == Format::csv) {
    for (std::size_t k = 0; k < cells.size(); ++k) {
      out << (k == 0 ? "" : ",") << csv_field(cells[k].text);
    }
    out << '\n';
    return;
  }
  out << '{';
  for (std::size_t k = 0; k < columns.size(); ++k) {
    out << (k == 0 ? "" : ",") << json_string(columns[k]) << ':'
        << (k < cells.size() ? json_text(cells[k]) : "null");
  }
  out << "}\n";
}

void write_table(std::ostream& out, Format format, const Table& table) {
  const auto columns = table.columns();
  write_header(out, format, columns);
  for (std::size_t i = 0; i < table.size(); ++i) write_row(out, format, columns, table.row(i));
}

std::vector<std::string> RowLayout::lead() const {
  std::vector<std::string> columns = names;
  columns.insert(columns.end(), {"exit_code", "seconds"});
  if (attempts) columns.emplace_back("attempts");
  if (!parse_json) columns.emplace_back("output");
  return columns;
}

std::vector<std::string> RowLayout::trail() const {
  if (parse_json) return {"error", "stderr"};
  return {"stderr"};
}

std::string format_seconds(double seconds) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.3f", seconds);
  return buffer;
}

Row make_row(const RowLayout& layout, const std::vector<std::string>& point,
             const RunResult& result) {
  Row row;
  for (const auto& value : point) row.lead.push_back(Value::guess(value));
  row.lead.push_back(Value::of_number(std::to_string(result.exit_code)));
  row.lead.push_back(Value::of_number(format_seconds(result.seconds)));
  if (layout.attempts) row.lead.push_back(Value::of_number(std::to_string(result.attempts)));
  row.failed = result.exit_code != 0;
  if (layout.parse_json) {
    std::string error;
    if (result.output.empty()) {
      error = "no output on stdout";
    } else {
      try {
        const Json json = Json::parse(result.output);
        if (json.is_object()) {
          for (const auto& [name, value] : json.items()) {
            row.fields.emplace_back(name, field_value(value));
          }
        } else {
          error = "the last line of stdout is not a JSON object: " + result.output;
        }
      } catch (const Json::exception&) {
        error = "the last line of stdout is not JSON: " + result.output;
      }
    }
    if (error.size() > 500) error = error.substr(0, 500) + "...";
    if (!error.empty()) row.failed = true;
    row.trail.push_back(error.empty() ? Value{} : Value::of_text(error));
  } else {
    row.lead.push_back(Value::of_text(result.output));
  }
  row.trail.push_back(row.failed ? Value::of_text(result.stderr_tail) : Value::of_text(""));
  return row;
}

}  // namespace sweep
