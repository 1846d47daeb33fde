/// @file grid.hpp
/// @brief unipar-sweep's parameter grid: `--param` specs, `--grid` files, the Cartesian
/// product, and the `{name}` substitution in the command's arguments. Pure functions, no I/O
/// except load_grid_file.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sweep {

/// A mistake in the command line or in a grid file: unipar-sweep exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The most points a grid may have.
inline constexpr std::size_t max_points = 10'000'000;

/// One `--param`: a name and its values, as text.
struct Parameter {
  std::string name;
  std::vector<std::string> values;
};

/// The points of a sweep: `points[i][k]` is the value of parameter `names[k]` at point i.
struct Grid {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> points;
};

/// Column names of the output that a parameter may not take.
bool is_reserved_name(std::string_view name);

/// Throws UsageError unless `name` is a usable parameter name: non-empty, letters, digits,
/// '_', '-' and '.', and not a reserved column name.
void check_name(std::string_view name);

/// The values of `START:STOP:STEP`, STOP included when it lands on it: decimal inputs are
/// stepped exactly (0:1:0.1 gives 0, 0.1, ..., 0.9, 1) and printed with no more decimals
/// than the inputs have (trailing zeros dropped: 0:1:0.25 gives 0, 0.25, 0.5, 0.75, 1).
/// @throws UsageError for a step of zero, a step that leads away from STOP, a part that is
/// not a finite number, or more than max_points values.
std::vector<std::string> expand_range(std::string_view start, std::string_view stop,
                                      std::string_view step);

/// Parses `NAME=V1,V2,...` (a list; one value is a list of one) or `NAME=START:STOP:STEP`
/// (a range: a spec with no comma and a colon). @throws UsageError
Parameter parse_param(std::string_view spec);

/// Every combination of the parameters' values, the last parameter varying fastest.
/// @throws UsageError for no parameter, a duplicate or invalid name, or too many points.
Grid product(const std::vector<Parameter>& parameters);

/// A grid from JSON text: an object of arrays `{"a": [0.1, 10], "b": [1, 2]}` (their product,
/// keys in file order; a scalar is a list of one), or an array of objects
/// `[{"a": 0.1, "b": 1}, ...]` (the points themselves; every object has the same keys, in
/// the first object's order). Values are strings, numbers or booleans. @throws UsageError
Grid grid_from_json(std::string_view text);

/// grid_from_json of a file's contents. @throws UsageError (naming the file)
Grid load_grid_file(const std::string& path);

/// A command line with `{name}` placeholders, checked once and then filled in per point.
/// `{{` and `}}` stand for literal braces.
class CommandTemplate {
 public:
  /// @throws UsageError for an unknown `{name}`, an unclosed `{` or a lone `}`.
  CommandTemplate(const std::vector<std::string>& arguments, const std::vector<std::string>& names);

  /// The arguments with every placeholder replaced by the point's value.
  std::vector<std::string> expand(const std::vector<std::string>& point) const;

 private:
  struct Piece {
    std::string literal;  // used when parameter < 0
    int parameter = -1;   // index into the point
  };
  std::vector<std::vector<Piece>> arguments_;
};

/// `argument` quoted for a POSIX shell when it needs to be (for --dry-run).
std::string shell_quote(std::string_view argument);

}  // namespace sweep
