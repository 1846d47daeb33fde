/// @file output.hpp
/// @brief unipar-sweep's rows: what a point's result becomes (make_row), the table of rows with
/// the columns --parse json adds, and the CSV (RFC 4180 quoting) and JSON Lines writers.
#pragma once

#include <cstddef>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "run_command.hpp"

namespace sweep {

enum class Format { csv, jsonl };

/// JSON Lines for a path that ends in ".jsonl", else CSV.
Format format_for(std::string_view path);

/// One cell: text (a JSON string in JSON Lines), a number (its text is a JSON number
/// literal, written as is), null (empty in CSV), or a JSON value (its text, e.g. `true`,
/// `[1,2]`; written as is in JSON Lines).
struct Value {
  enum class Type { text, number, null, json };
  Type type = Type::null;
  std::string text;

  static Value of_text(std::string s) { return {Type::text, std::move(s)}; }
  static Value of_number(std::string s) { return {Type::number, std::move(s)}; }
  static Value of_json(std::string s) { return {Type::json, std::move(s)}; }
  /// A number when `s` is a JSON number literal (`0.1`, `-3`, `1e5`; not `007` or `.5`),
  /// else text.
  static Value guess(std::string s);
  friend bool operator==(const Value&, const Value&) = default;
};

/// Whether `text` is a number literal in JSON's grammar.
bool is_json_number(std::string_view text);

/// One CSV field, quoted when it holds a comma, a double quote, CR or LF (quotes doubled).
std::string csv_field(std::string_view text);

/// Rows with a fixed leading and trailing set of columns and, between them, the columns of
/// the parsed JSON fields: the union of every row's fields, in order of first appearance.
class Table {
 public:
  Table(std::vector<std::string> lead, std::vector<std::string> trail);

  /// Adds a row. A field whose name is a lead or trail column is renamed "json.<name>".
  void add(std::vector<Value> lead, const std::vector<std::pair<std::string, Value>>& fields,
           std::vector<Value> trail);

  std::vector<std::string> columns() const;
  /// Row `i`, one value per column (null where the row has no such field).
  std::vector<Value> row(std::size_t i) const;
  std::size_t size() const { return rows_.size(); }

 private:
  struct Row {
    std::vector<Value> lead;
    std::vector<std::pair<std::size_t, Value>> fields;  // (field column, value)
    std::vector<Value> trail;
  };
  std::vector<std::string> lead_;
  std::vector<std::string> trail_;
  std::vector<std::string> fields_;
  std::map<std::string, std::size_t> field_index_;
  std::vector<Row> rows_;
};

/// The CSV header line (nothing for JSON Lines).
void write_header(std::ostream& out, Format format, const std::vector<std::string>& columns);
/// One row: a CSV line, or a JSON object with one member per column, in column order.
void write_row(std::ostream& out, Format format, const std::vector<std::string>& columns,
               const std::vector<Value>& cells);
/// The whole table.
void write_table(std::ostream& out, Format format, const Table& table);

/// How results become rows.
struct RowLayout {
  std::vector<std::string> names;  ///< the parameters
  bool parse_json = false;         ///< --parse json
  bool attempts = false;           ///< an `attempts` column (--retries > 0)

  /// names..., exit_code, seconds, [attempts], [output unless parse_json]
  std::vector<std::string> lead() const;
  /// [error if parse_json], stderr
  std::vector<std::string> trail() const;
};

/// One point's row, and whether it failed (a non-zero exit, or with --parse json a last
/// stdout line that is not a JSON object).
struct Row {
  std::vector<Value> lead;
  std::vector<std::pair<std::string, Value>> fields;
  std::vector<Value> trail;
  bool failed = false;
};

/// The row of `point` (one value per parameter) and its result. `stderr` holds the stderr
/// tail for a failed row and is empty otherwise.
Row make_row(const RowLayout& layout, const std::vector<std::string>& point,
             const RunResult& result);

/// Seconds with millisecond precision: "1.234".
std::string format_seconds(double seconds);

}  // namespace sweep
