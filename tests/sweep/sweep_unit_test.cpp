// unipar-sweep's parts, tested directly: ranges and lists, the product, grid files, the
// {name} substitution, rows, CSV and JSON Lines, and running a command.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "grid.hpp"
#include "output.hpp"
#include "run_command.hpp"

namespace {

using Strings = std::vector<std::string>;

// ---- ranges ---------------------------------------------------------------------------------

TEST(Range, IntegersIncludeStop) {
  EXPECT_EQ(sweep::expand_range("1", "5", "1"), (Strings{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(sweep::expand_range("1", "5", "2"), (Strings{"1", "3", "5"}));
  EXPECT_EQ(sweep::expand_range("1", "6", "2"), (Strings{"1", "3", "5"}));  // 7 is past STOP
  EXPECT_EQ(sweep::expand_range("3", "3", "1"), (Strings{"3"}));
}

TEST(Range, DecimalStepsAreExact) {
  EXPECT_EQ(sweep::expand_range("0", "1", "0.1"),
            (Strings{"0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"}));
  EXPECT_EQ(sweep::expand_range("0", "1", "0.25"), (Strings{"0", "0.25", "0.5", "0.75", "1"}));
  EXPECT_EQ(sweep::expand_range("-1", "1", "0.5"), (Strings{"-1", "-0.5", "0", "0.5", "1"}));
  EXPECT_EQ(sweep::expand_range("0.1", "0.3", "0.1"), (Strings{"0.1", "0.2", "0.3"}));
  EXPECT_EQ(sweep::expand_range("0", "1.05", "0.1").size(), 11u);
  EXPECT_EQ(sweep::expand_range("0", "3e-3", "1e-3"), (Strings{"0", "0.001", "0.002", "0.003"}));
  EXPECT_EQ(sweep::expand_range("1e3", "3e3", "1e3"), (Strings{"1000", "2000", "3000"}));
  EXPECT_EQ(sweep::expand_range("1.50", "2", "0.25"), (Strings{"1.5", "1.75", "2"}));
}

TEST(Range, NegativeStepCountsDown) {
  EXPECT_EQ(sweep::expand_range("5", "1", "-2"), (Strings{"5", "3", "1"}));
  EXPECT_EQ(sweep::expand_range("1", "0", "-0.5"), (Strings{"1", "0.5", "0"}));
}

TEST(Range, TooManyDigitsFallsBackToShortestDoubles) {
  // 21 significant digits cannot be stepped exactly in 64 bits: doubles, shortest round trip.
  const auto values = sweep::expand_range("0.100000000000000000001", "0.3", "0.1");
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0], "0.1");
  EXPECT_EQ(values[1], "0.2");
  EXPECT_EQ(values[2], "0.30000000000000004");  // 0.1 + 2 * 0.1 in doubles
}

TEST(Range, MistakesAreUsageErrors) {
  EXPECT_THROW(sweep::expand_range("0", "1", "0"), sweep::UsageError);
  EXPECT_THROW(sweep::expand_range("0", "1", "0.0"), sweep::UsageError);
  EXPECT_THROW(sweep::expand_range("5", "1", "1"), sweep::UsageError);
  EXPECT_THROW(sweep::expand_range("1", "5", "-1"), sweep::UsageError);
  EXPECT_THROW(sweep::expand_range("a", "5", "1"), sweep::UsageError);
  EXPECT_THROW(sweep::expand_range("1", "5", ""), sweep::UsageError);
  EXPECT_THROW(sweep::expand_range("nan", "5", "1"), sweep::UsageError);
  EXPECT_THROW(sweep::expand_range("0", "inf", "1"), sweep::UsageError);
  EXPECT_THROW(sweep::expand_range("0", "1e400", "1"), sweep::UsageError);
  EXPECT_THROW(sweep::expand_range("0", "1", "1e-30"), sweep::UsageError);  // too many values
}

// ---- --param --------------------------------------------------------------------------------

TEST(Param, ListsAndRanges) {
  const auto list = sweep::parse_param("a=0.1,10,x");
  EXPECT_EQ(list.name, "a");
  EXPECT_EQ(list.values, (Strings{"0.1", "10", "x"}));
  EXPECT_EQ(sweep::parse_param("b=1:3:1").values, (Strings{"1", "2", "3"}));
  EXPECT_EQ(sweep::parse_param("c=7").values, (Strings{"7"}));
  EXPECT_EQ(sweep::parse_param("d=12:30,13:00").values, (Strings{"12:30", "13:00"}));  // a list
  EXPECT_EQ(sweep::parse_param("e=a=b").values, (Strings{"a=b"}));
}

TEST(Param, MistakesAreUsageErrors) {
  for (const char* spec : {"a", "=1,2", "a=", "a=1,,2", "a=1,", "a=1:2", "a=1:2:3:4", "a=x:2:1",
                           "a b=1", "{a}=1", "seconds=1", "exit_code=1", "stderr=1"}) {
    EXPECT_THROW(sweep::parse_param(spec), sweep::UsageError) << spec;
  }
}

TEST(Product, LastParameterVariesFastest) {
  const auto grid = sweep::product({sweep::parse_param("a=1,2"), sweep::parse_param("b=x,y,z")});
  EXPECT_EQ(grid.names, (Strings{"a", "b"}));
  const std::vector<Strings> expected{{"1", "x"}, {"1", "y"}, {"1", "z"},
                                      {"2", "x"}, {"2", "y"}, {"2", "z"}};
  EXPECT_EQ(grid.points, expected);
}

TEST(Product, DuplicateNamesAndNoParametersAreUsageErrors) {
  EXPECT_THROW(sweep::product({sweep::parse_param("a=1"), sweep::parse_param("a=2")}),
               sweep::UsageError);
  EXPECT_THROW(sweep::product({}), sweep::UsageError);
  std::vector<sweep::Parameter> huge(8, sweep::Parameter{"", Strings(10, "v")});
  for (std::size_t k = 0; k < huge.size(); ++k) huge[k].name = "p" + std::to_string(k);
  EXPECT_THROW(sweep::product(huge), sweep::UsageError);  // 10^8 points
}

// ---- --grid files ---------------------------------------------------------------------------

TEST(GridFile, ObjectIsAProductInFileOrder) {
  const auto grid = sweep::grid_from_json(R"({"z": [0.1, 10], "a": [1, "two", true], "m": 5})");
  EXPECT_EQ(grid.names, (Strings{"z", "a", "m"}));
  ASSERT_EQ(grid.points.size(), 6u);
  EXPECT_EQ(grid.points[0], (Strings{"0.1", "1", "5"}));
  EXPECT_EQ(grid.points[1], (Strings{"0.1", "two", "5"}));
  EXPECT_EQ(grid.points[2], (Strings{"0.1", "true", "5"}));
  EXPECT_EQ(grid.points[5], (Strings{"10", "true", "5"}));
}

TEST(GridFile, ArrayIsThePoints) {
  const auto grid =
      sweep::grid_from_json(R"([{"b": 1, "a": "x"}, {"a": "y", "b": 2.5}, {"b": -3, "a": ""}])");
  EXPECT_EQ(grid.names, (Strings{"b", "a"}));
  const std::vector<Strings> expected{{"1", "x"}, {"2.5", "y"}, {"-3", ""}};
  EXPECT_EQ(grid.points, expected);
}

TEST(GridFile, MistakesAreUsageErrors) {
  for (const char* text :
       {"", "[", "3", "\"a\"", "[]", "{}", R"({"a": []})", R"({"a": [[1]]})", R"({"a": [null]})",
        R"({"a": {"b": 1}})", R"([{"a": 1}, {"b": 1}])", R"([{"a": 1}, {"a": 1, "b": 2}])",
        R"([{"a": 1}, 2])", R"([{}])", R"({"seconds": [1]})", R"({"a b": [1]})"}) {
    EXPECT_THROW(sweep::grid_from_json(text), sweep::UsageError) << text;
  }
  EXPECT_THROW(sweep::load_grid_file("/nonexistent/grid.json"), sweep::UsageError);
}

// ---- substitution ---------------------------------------------------------------------------

TEST(Template, ReplacesPlaceholdersInsideArguments) {
  const sweep::CommandTemplate command(
      {"./sim", "--alpha", "{a}", "--out=run_{a}_{b}.txt", "{{literal}}", "}}{b}{{", "", "{b}{b}"},
      {"a", "b"});
  EXPECT_EQ(command.expand({"0.1", "7"}), (Strings{"./sim", "--alpha", "0.1", "--out=run_0.1_7.txt",
                                                   "{literal}", "}7{", "", "77"}));
  // A value is never scanned again for placeholders.
  EXPECT_EQ(command.expand({"{b}", "x"})[2], "{b}");
}

TEST(Template, UnknownOrUnbalancedPlaceholdersAreUsageErrors) {
  const Strings names{"a", "b"};
  for (const char* argument : {"{c}", "{}", "x{a", "a}", "{a}}", "{{a}", "{ a}"}) {
    EXPECT_THROW(sweep::CommandTemplate({"echo", argument}, names), sweep::UsageError) << argument;
  }
  EXPECT_THROW(sweep::CommandTemplate({"{c}"}, names), sweep::UsageError);  // the program too
}

TEST(Template, ShellQuoteForDryRun) {
  EXPECT_EQ(sweep::shell_quote("--out=a_1.txt"), "--out=a_1.txt");
  EXPECT_EQ(sweep::shell_quote("a b"), "'a b'");
  EXPECT_EQ(sweep::shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(sweep::shell_quote(""), "''");
}

// ---- rows, CSV and JSON Lines -----------------------------------------------------------------

TEST(Csv, QuotesWhatRfc4180Requires) {
  EXPECT_EQ(sweep::csv_field("plain"), "plain");
  EXPECT_EQ(sweep::csv_field(""), "");
  EXPECT_EQ(sweep::csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(sweep::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(sweep::csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(sweep::csv_field("cr\r"), "\"cr\r\"");
}

TEST(Json, NumberLiterals) {
  for (const char* yes : {"0", "-0", "1", "-12", "0.5", "1e5", "1E+5", "-2.5e-3", "10"}) {
    EXPECT_TRUE(sweep::is_json_number(yes)) << yes;
  }
  for (const char* no :
       {"", "-", "007", ".5", "5.", "1e", "+1", "0x10", "1,5", "inf", "nan", " 1", "1 "}) {
    EXPECT_FALSE(sweep::is_json_number(no)) << no;
  }
}

sweep::RunResult result(int exit_code, std::string output, std::string errors = "") {
  sweep::RunResult r;
  r.exit_code = exit_code;
  r.seconds = 1.23456;
  r.output = std::move(output);
  r.stderr_tail = std::move(errors);
  r.attempts = 2;
  return r;
}

std::string csv_of(const sweep::Table& table) {
  std::ostringstream out;
  sweep::write_table(out, sweep::Format::csv, table);
  return out.str();
}

std::string jsonl_of(const sweep::Table& table) {
  std::ostringstream out;
  sweep::write_table(out, sweep::Format::jsonl, table);
  return out.str();
}

TEST(Rows, LastLineRowsInCsvAndJsonLines) {
  const sweep::RowLayout layout{{"a", "name"}, false, false};
  sweep::Table table(layout.lead(), layout.trail());
  for (const auto& [point, r] : std::vector<std::pair<Strings, sweep::RunResult>>{
           {{"0.1", "x,y"}, result(0, "done \"ok\"", "ignored")},
           {{"007", "z"}, result(3, "", "line 1\nline 2")}}) {
    auto row = sweep::make_row(layout, point, r);
    EXPECT_EQ(row.failed, r.exit_code != 0);
    table.add(std::move(row.lead), row.fields, std::move(row.trail));
  }
  EXPECT_EQ(csv_of(table),
            "a,name,exit_code,seconds,output,stderr\n"
            "0.1,\"x,y\",0,1.235,\"done \"\"ok\"\"\",\n"
            "007,z,3,1.235,,\"line 1\nline 2\"\n");
  EXPECT_EQ(
      jsonl_of(table),
      R"({"a":0.1,"name":"x,y","exit_code":0,"seconds":1.235,"output":"done \"ok\"","stderr":""})"
      "\n"
      R"({"a":"007","name":"z","exit_code":3,"seconds":1.235,"output":"","stderr":"line 1\nline 2"})"
      "\n");
}

TEST(Rows, AttemptsColumnWithRetries) {
  const sweep::RowLayout layout{{"a"}, false, true};
  EXPECT_EQ(layout.lead(), (Strings{"a", "exit_code", "seconds", "attempts", "output"}));
  const auto row = sweep::make_row(layout, {"1"}, result(0, "out"));
  ASSERT_EQ(row.lead.size(), 5u);
  EXPECT_EQ(row.lead[3].text, "2");
}

TEST(Rows, JsonFieldsBecomeColumnsInOrderOfFirstAppearance) {
  const sweep::RowLayout layout{{"a"}, true, false};
  sweep::Table table(layout.lead(), layout.trail());
  const std::vector<std::pair<std::string, sweep::RunResult>> runs{
      {"1", result(0, R"({"y": 2, "s": "a,b"})")},
      {"2", result(0, "not json")},
      {"3", result(0, R"({"x": true, "y": 1.5, "v": [1, 2], "n": null, "a": "mine"})")},
      {"4", result(5, R"({"y": 4})", "boom")},
      {"5", result(0, "[1, 2]")},
      {"6", result(0, "")}};
  std::vector<bool> failed;
  for (const auto& [a, r] : runs) {
    auto row = sweep::make_row(layout, {a}, r);
    failed.push_back(row.failed);
    table.add(std::move(row.lead), row.fields, std::move(row.trail));
  }
  EXPECT_EQ(failed, (std::vector<bool>{false, true, false, true, true, true}));
  EXPECT_EQ(table.columns(), (Strings{"a", "exit_code", "seconds", "y", "s", "x", "v", "n",
                                      "json.a", "error", "stderr"}));
  const std::string csv = csv_of(table);
  std::istringstream lines(csv);
  Strings rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[1], "1,0,1.235,2,\"a,b\",,,,,,");
  EXPECT_EQ(rows[2], "2,0,1.235,,,,,,,the last line of stdout is not JSON: not json,");
  EXPECT_EQ(rows[3], "3,0,1.235,1.5,,true,\"[1,2]\",,mine,,");
  EXPECT_EQ(rows[4], "4,5,1.235,4,,,,,,,boom");
  EXPECT_EQ(rows[5], "5,0,1.235,,,,,,,\"the last line of stdout is not a JSON object: [1, 2]\",");
  EXPECT_EQ(rows[6], "6,0,1.235,,,,,,,no output on stdout,");
  const std::string jsonl = jsonl_of(table);
  EXPECT_NE(jsonl.find(R"({"a":3,"exit_code":0,"seconds":1.235,"y":1.5,"s":null,"x":true,)"
                       R"("v":[1,2],"n":null,"json.a":"mine","error":null,"stderr":""})"),
            std::string::npos)
      << jsonl;
}

TEST(Rows, InvalidUtf8IsReplacedInJsonLines) {
  const sweep::RowLayout layout{{"a"}, false, false};
  sweep::Table table(layout.lead(), layout.trail());
  auto row = sweep::make_row(layout, {"1"}, result(0, std::string("bad \xff byte")));
  table.add(std::move(row.lead), row.fields, std::move(row.trail));
  EXPECT_NE(jsonl_of(table).find("\"output\":\"bad \xEF\xBF\xBD byte\""), std::string::npos);
}

TEST(Output, FormatFromTheFileName) {
  EXPECT_EQ(sweep::format_for("results.jsonl"), sweep::Format::jsonl);
  EXPECT_EQ(sweep::format_for("results.csv"), sweep::Format::csv);
  EXPECT_EQ(sweep::format_for("results.json"), sweep::Format::csv);
  EXPECT_EQ(sweep::format_for("jsonl"), sweep::Format::csv);
}

// ---- what is kept of the output --------------------------------------------------------------

TEST(Capture, LastNonEmptyLine) {
  sweep::LastLine last;
  last.feed("first\nsec");
  last.feed("ond\r\n\n   \n\t\r\n");
  EXPECT_EQ(last.finish(), "second");
  sweep::LastLine unterminated;
  unterminated.feed("a\nb");
  EXPECT_EQ(unterminated.finish(), "b");
  sweep::LastLine nothing;
  nothing.feed("\n\n");
  EXPECT_EQ(nothing.finish(), "");
}

TEST(Capture, TailLines) {
  std::string text;
  for (int i = 1; i <= 30; ++i) text += "line " + std::to_string(i) + "\n";
  const std::string tail = sweep::tail_lines(text, 20, 2048);
  EXPECT_EQ(tail.substr(0, 8), "line 11\n");
  EXPECT_EQ(tail.substr(tail.size() - 7), "line 30");
  EXPECT_EQ(sweep::tail_lines("a\nb\nc\n", 2, 100), "b\nc");
  EXPECT_EQ(sweep::tail_lines("a\nb\nc", 5, 100), "a\nb\nc");
  EXPECT_EQ(sweep::tail_lines("aaaa\nbbbb\ncc", 5, 6), "cc");           // cut at a line start
  EXPECT_EQ(sweep::tail_lines("aaaa\nbbbbbbbbbb", 5, 4), "bbbb");       // inside the last line
  EXPECT_EQ(sweep::tail_lines("x\xC3\xA9\xC3\xA9", 5, 3), "\xC3\xA9");  // not inside UTF-8
  EXPECT_EQ(sweep::tail_lines("", 20, 2048), "");
}

TEST(Capture, TailKeepsTheEnd) {
  sweep::Tail tail(5);
  tail.feed("abc");
  tail.feed("defg");
  EXPECT_EQ(tail.text(), "cdefg");
  tail.feed("0123456789");
  EXPECT_EQ(tail.text(), "56789");
}

// ---- running a command ----------------------------------------------------------------------

TEST(Run, CapturesStdoutStderrAndExitCode) {
  const auto r =
      sweep::run_once({"/bin/sh", "-c", "echo one; echo two; echo err >&2; printf '\\n'; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.output, "two");
  EXPECT_EQ(r.stderr_tail, "err");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_GE(r.seconds, 0.0);
}

TEST(Run, ArgumentsArePassedAsIsWithoutAShell) {
  const auto r = sweep::run_once({"printf", "%s|", "a b", "$HOME", "*", "'q'"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "a b|$HOME|*|'q'|");
}

TEST(Run, StdinIsEmpty) {
  const auto r = sweep::run_once({"/bin/sh", "-c", "wc -c"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "0");
}

TEST(Run, LotsOfOutputOnBothStreamsDoesNotDeadlock) {
  // 4 MB on each stream, interleaved, far more than a pipe holds.
  const auto r = sweep::run_once(
      {"/bin/sh", "-c",
       "i=0; while [ $i -lt 8 ]; do head -c 500000 /dev/zero | tr '\\0' o; "
       "head -c 500000 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done; echo; echo last; "
       "echo >&2; echo tail-of-stderr >&2"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "last");
  EXPECT_LE(r.stderr_tail.size(), sweep::stderr_tail_bytes);
  // The 4 MB line of e's is cut off at the byte limit: the tail starts at the next line.
  EXPECT_EQ(r.stderr_tail, "tail-of-stderr");
}

TEST(Run, CommandNotFoundIs127) {
  const auto r = sweep::run_once({"unipar-sweep-no-such-command-xyz", "arg"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.stderr_tail.find("unipar-sweep-no-such-command-xyz: command not found"),
            std::string::npos)
      << r.stderr_tail;
  const auto by_path = sweep::run_once({"/nonexistent/program"});
  EXPECT_EQ(by_path.exit_code, 127);
  EXPECT_NE(by_path.stderr_tail.find("cannot run /nonexistent/program"), std::string::npos)
      << by_path.stderr_tail;
  const auto not_executable = sweep::run_once({"/etc/passwd"});
  EXPECT_EQ(not_executable.exit_code, 127);
  EXPECT_NE(not_executable.stderr_tail.find("Permission denied"), std::string::npos);
}

TEST(Run, KilledBySignal) {
  const auto r = sweep::run_once({"/bin/sh", "-c", "echo before >&2; kill -9 $$"});
  EXPECT_EQ(r.exit_code, 128 + 9);
  EXPECT_NE(r.stderr_tail.find("before\nunipar-sweep: killed by signal 9"), std::string::npos)
      << r.stderr_tail;
}

TEST(Run, FindExecutable) {
  EXPECT_EQ(sweep::find_executable("./x"), "./x");
  const std::string sh = sweep::find_executable("sh");
  EXPECT_FALSE(sh.empty());
  EXPECT_EQ(sh.substr(sh.size() - 3), "/sh");
  EXPECT_EQ(sweep::find_executable("unipar-sweep-no-such-command-xyz"), "");
}

TEST(Run, RetriesUntilSuccess) {
  const auto directory =
      std::filesystem::temp_directory_path() / ("sweep_unit_" + std::to_string(getpid()));
  std::filesystem::create_directories(directory);
  const std::string marker = (directory / "marker").string();
  // Fails until it has run twice before.
  const std::string script = "echo x >> " + marker + "; [ $(wc -l < " + marker +
                             ") -ge 3 ] && echo ok && exit 0; echo no >&2; exit 4";
  const auto once = sweep::run_with_retries({"/bin/sh", "-c", script}, 1);
  EXPECT_EQ(once.exit_code, 4);
  EXPECT_EQ(once.attempts, 2);
  EXPECT_EQ(once.stderr_tail, "no");
  std::filesystem::remove(marker);
  const auto enough = sweep::run_with_retries({"/bin/sh", "-c", script}, 5);
  EXPECT_EQ(enough.exit_code, 0);
  EXPECT_EQ(enough.attempts, 3);
  EXPECT_EQ(enough.output, "ok");
  std::filesystem::remove(marker);
  const auto no_retries = sweep::run_with_retries({"/bin/sh", "-c", script}, 0);
  EXPECT_EQ(no_retries.attempts, 1);
  EXPECT_EQ(no_retries.exit_code, 4);
  std::filesystem::remove_all(directory);
}

}  // namespace
