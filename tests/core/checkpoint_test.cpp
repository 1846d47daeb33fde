/// @file checkpoint_test.cpp
/// @brief `MapOptions::checkpoint` on every backend: a second call delivers the file's results
/// without computing them; a call stopped part way resumes and computes only what was not
/// delivered; a torn last record is dropped; a file for other items, another item count or
/// another result type is a UsageError; a damaged record before others is an Error; the same
/// inside `run`. Whether an item was computed again shows in its result: the function adds
/// `generation`, which each phase of a test sets on every process before its call.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "marker_dir.hpp"
#include "unipar/detail/checkpoint.hpp"
#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::MapOptions;
using unipar::Parallelizer;
using unipar::testing::backend;

int generation = 0;

int tenfold(int i) {
  return i * 10 + generation;
}

std::string spelled(int i) {
  return "item " + std::to_string(i) + " of generation " + std::to_string(generation);
}

std::vector<int> iota_items(int count, int from = 0) {
  std::vector<int> items(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) items[static_cast<std::size_t>(i)] = from + i;
  return items;
}

std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto bytes = std::as_bytes(std::span(text));
  return {bytes.begin(), bytes.end()};
}

void write_bytes(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

/// The generation each result was computed in (results are i * 10 + generation).
std::vector<int> generations(const std::vector<int>& results, const std::vector<int>& items) {
  std::vector<int> out;
  for (std::size_t k = 0; k < results.size(); ++k) out.push_back(results[k] - items[k] * 10);
  return out;
}

TEST(FarmCheckpoint, ASecondCallDeliversTheFilesResultsWithoutComputingThem) {
  const MarkerDir dir;
  const auto items = iota_items(200, 5);
  const MapOptions options{.checkpoint = dir.path() + "/ints"};
  generation = 0;
  const auto first = backend().map(tenfold, items, options);
  generation = 1;
  const auto second = backend().map(tenfold, items, options);
  generation = 2;
  std::map<std::size_t, int> streamed;
  int twice = 0;
  for (const bool ordered : {false, true}) {
    MapOptions each = options;
    each.ordered = ordered;
    std::vector<std::size_t> order;
    backend().map_each(
        tenfold, items,
        [&](std::size_t k, int&& v) {
          twice += streamed.count(k) > 0 && !ordered ? 1 : 0;
          streamed[k] = v;
          order.push_back(k);
        },
        each);
    if (holds_main_results() && ordered) {
      for (std::size_t k = 0; k < order.size(); ++k) EXPECT_EQ(order[k], k) << "ordered delivery";
    }
  }
  // A serialized result type, in a file of its own.
  const MapOptions text_options{.checkpoint = dir.path() + "/strings"};
  generation = 0;
  const auto words = backend().map(spelled, items, text_options);
  generation = 1;
  const auto words_again = backend().map(spelled, items, text_options);
  if (!holds_main_results()) return;
  ASSERT_EQ(first.size(), items.size());
  EXPECT_EQ(generations(first, items), std::vector<int>(items.size(), 0));
  EXPECT_EQ(second, first) << "the second call computed items again";
  EXPECT_EQ(twice, 0);
  ASSERT_EQ(streamed.size(), items.size());
  for (std::size_t k = 0; k < items.size(); ++k) EXPECT_EQ(streamed[k], first[k]) << k;
  ASSERT_EQ(words.size(), items.size());
  EXPECT_EQ(words[7], "item 12 of generation 0");
  EXPECT_EQ(words_again, words);
}

TEST(FarmCheckpoint, AStoppedCallResumesAndComputesOnlyWhatWasNotDelivered) {
  const MarkerDir dir;
  const auto items = iota_items(300);
  const MapOptions options{.chunk = 3, .checkpoint = dir.path() + "/stopped"};
  generation = 0;
  std::set<std::size_t> seen;
  try {
    backend().map_each(
        tenfold, items,
        [&](std::size_t k, int&&) {
          if (seen.size() == 40) throw std::runtime_error("stop");
          seen.insert(k);
        },
        options);
    if (holds_main_results()) ADD_FAILURE() << "on_result's exception did not stop the call";
  } catch (const std::exception&) {
    // main: "stop"; MPI's other ranks: a WorkerError from main
  }
  generation = 1;
  const auto resumed = backend().map(tenfold, items, options);
  if (!holds_main_results()) return;
  ASSERT_EQ(seen.size(), 40u);
  ASSERT_EQ(resumed.size(), items.size());
  const auto made_in = generations(resumed, items);
  int reloaded = 0;
  for (std::size_t k = 0; k < items.size(); ++k) {
    ASSERT_TRUE(made_in[k] == 0 || made_in[k] == 1) << "item " << k << ": " << resumed[k];
    reloaded += made_in[k] == 0 ? 1 : 0;
    if (seen.count(k) > 0) {
      EXPECT_EQ(made_in[k], 0) << "delivered item " << k << " computed again";
    }
  }
  EXPECT_GE(reloaded, 40);
  EXPECT_LT(reloaded, 300) << "the first call was not stopped";
}

TEST(FarmCheckpoint, InsideRunEveryProcessCallsWithTheFileOfMain) {
  const MarkerDir dir;
  const auto items = iota_items(120);
  const MapOptions options{.checkpoint = dir.path() + "/in-run"};
  generation = 0;
  const auto phase = [&](int g) {
    generation = g;
    return backend().run([&](Parallelizer& par) {
      return par.map(tenfold, par.on_main() ? items : std::vector<int>{}, options);
    });
  };
  const auto first = phase(0);
  const auto second = phase(1);
  if (!holds_main_results()) return;
  EXPECT_EQ(generations(first, items), std::vector<int>(items.size(), 0));
  EXPECT_EQ(second, first);
}

TEST(FarmCheckpoint, ATornLastRecordIsDroppedAndOnlyItsItemComputedAgain) {
  const MarkerDir dir;
  const auto items = iota_items(64);
  const MapOptions options{.checkpoint = dir.path() + "/torn"};
  generation = 0;
  (void)backend().map(tenfold, items, options);
  if (backend().on_main()) {
    auto bytes = read_bytes(options.checkpoint);
    bytes.resize(bytes.size() - 3);  // a kill in the middle of the last write
    write_bytes(options.checkpoint, bytes);
  }
  generation = 1;
  const auto resumed = backend().map(tenfold, items, options);
  generation = 2;
  const auto again = backend().map(tenfold, items, options);  // the file is whole again
  if (!holds_main_results()) return;
  const auto made_in = generations(resumed, items);
  EXPECT_EQ(std::count(made_in.begin(), made_in.end(), 1), 1);
  EXPECT_EQ(std::count(made_in.begin(), made_in.end(), 0), 63);
  EXPECT_EQ(again, resumed);
}

TEST(FarmCheckpoint, AFileForOtherItemsOrAnotherResultTypeIsAUsageError) {
  const MarkerDir dir;
  const auto items = iota_items(50);
  const MapOptions options{.checkpoint = dir.path() + "/for-ints"};
  generation = 0;
  const auto first = backend().map(tenfold, items, options);
  const auto other_items =
      usage_error_message([&] { (void)backend().map(tenfold, iota_items(50, 1), options); });
  const auto other_count =
      usage_error_message([&] { (void)backend().map(tenfold, iota_items(51), options); });
  const auto other_result = usage_error_message(
      [&] { (void)backend().map([](int i) { return double(i); }, items, options); });
  if (backend().on_main()) write_bytes(dir.path() + "/not-one", read_bytes("/proc/self/cmdline"));
  const auto not_one = usage_error_message(
      [&] { (void)backend().map(tenfold, items, {.checkpoint = dir.path() + "/not-one"}); });
  generation = 1;
  const auto after = backend().map(tenfold, items, options);
  if (!holds_main_results()) return;
  EXPECT_TRUE(contains(other_items, "computed from another item")) << other_items;
  EXPECT_TRUE(contains(other_count, "over 50 items, but this call has 51")) << other_count;
  EXPECT_TRUE(contains(other_result, "results of type int")) << other_result;
  EXPECT_TRUE(contains(other_result, "double")) << other_result;
  EXPECT_TRUE(contains(not_one, "is not a checkpoint")) << not_one;
  EXPECT_EQ(after, first) << "a refused call changed the file";
}

TEST(FarmCheckpoint, ADamagedRecordBeforeOthersIsAnError) {
  const MarkerDir dir;
  const auto items = iota_items(40);
  const MapOptions options{.chunk = 4, .checkpoint = dir.path() + "/damaged"};
  (void)backend().map(tenfold, items, options);
  if (backend().on_main()) {
    auto bytes = read_bytes(options.checkpoint);
    bytes[bytes.size() / 2] ^= std::byte{0x40};
    write_bytes(options.checkpoint, bytes);
  }
  std::string message;
  try {
    (void)backend().map(tenfold, items, options);
  } catch (const unipar::WorkerError& e) {
    message = e.message();
  } catch (const unipar::Error& e) {
    message = e.what();
  }
  if (!holds_main_results()) return;
  EXPECT_TRUE(contains(message, "is damaged at byte")) << message;
}

TEST(FarmCheckpoint, NegativeRetriesAreAUsageError) {
  const auto message =
      usage_error_message([] { (void)backend().map(tenfold, iota_items(4), {.retries = -1}); });
  EXPECT_TRUE(contains(message, "MapOptions::retries is -1")) << message;
}

/// The reader on every prefix of a real file: a prefix is never an error, and it yields the
/// records that are whole in it.
TEST(FarmCheckpoint, EveryPrefixOfAFileReadsAsItsWholeRecords) {
  const MarkerDir dir;  // on every process (its name is broadcast)
  if (!backend().on_main()) return;
  using unipar::detail::CheckpointFile;
  const unipar::detail::CheckpointKey key{5, 1, 2, "int", "std::string"};
  std::vector<std::byte> file = CheckpointFile::header(key);
  const std::size_t header_size = file.size();
  std::vector<std::size_t> ends;
  const std::string path = dir.path() + "/prefix";
  {
    CheckpointFile writer(path, key);
    for (std::uint64_t i = 0; i < 5; ++i) {
      const std::string value(i * 3, 'x');
      writer.add(4 - i, 100 + i, std::as_bytes(std::span(value)));
      writer.flush();
      ends.push_back(std::filesystem::file_size(path));
    }
  }
  file = read_bytes(path);
  for (std::size_t cut = 0; cut <= file.size(); ++cut) {
    std::vector<CheckpointFile::Record> records;
    const std::size_t whole =
        CheckpointFile::parse(std::span(file).first(cut), "prefix", key, records);
    const auto expected =
        static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin());
    ASSERT_EQ(records.size(), cut < header_size ? 0 : expected) << "cut at " << cut;
    EXPECT_EQ(whole, cut < header_size ? 0 : expected == 0 ? header_size : ends[expected - 1]);
    for (std::size_t r = 0; r < records.size(); ++r) {
      EXPECT_EQ(records[r].index, 4 - r);
      EXPECT_EQ(records[r].item_hash, 100 + r);
      EXPECT_EQ(records[r].bytes.size(), r * 3);
    }
  }
}

}  // namespace
}  // namespace unipar_test
