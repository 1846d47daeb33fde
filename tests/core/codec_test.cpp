/// @file codec_test.cpp
/// @brief The codec on its own: which types travel and how (checked at compile time), round
/// trips of every kind of value, and bytes that are truncated or corrupt (always TypeMismatch,
/// never a crash).
#include <sys/resource.h>

#include <array>
#include <cstdio>
#include <deque>
#include <fstream>
#include <list>
#include <random>
#include <set>
#include <unordered_map>

#include "values.hpp"

namespace unipar_test {
namespace {

namespace detail = unipar::detail;
using unipar::Transferable;

// ---- what can travel, decided at compile time -------------------------------------------------

union Number {
  int i;
  float f;
};

static_assert(!Transferable<int*>);
static_assert(!Transferable<const char*>);
static_assert(!Transferable<void>);
static_assert(!Transferable<int[4]>);
static_assert(!Transferable<Number>);
static_assert(!Transferable<int (*)(int)>);
static_assert(!Transferable<int Point::*>);
static_assert(!Transferable<std::vector<int*>>);
static_assert(!Transferable<std::map<std::string, double*>>);
static_assert(!Transferable<std::pair<int, const char*>>);
static_assert(!Transferable<std::vector<std::vector<Number>>>);

static_assert(Transferable<int>);
static_assert(Transferable<double>);
static_assert(Transferable<Point>);
static_assert(Transferable<std::array<double, 3>>);
static_assert(Transferable<std::string>);
static_assert(Transferable<std::vector<double>>);
static_assert(Transferable<Dict>);
static_assert(Transferable<Particle>);
static_assert(Transferable<const std::string&>);  // cv and references are looked through

static_assert(detail::Plain<int> && detail::Plain<Point> && detail::Plain<std::array<double, 3>>);
static_assert(detail::Contiguous<std::vector<double>> && detail::Contiguous<std::string>);
static_assert(detail::Contiguous<std::vector<Point>> && detail::Contiguous<std::u16string>);
static_assert(!detail::Contiguous<std::vector<bool>>);
static_assert(detail::Serialized<std::vector<bool>>);
static_assert(detail::Serialized<Dict> && detail::Serialized<Particle>);
static_assert(detail::Serialized<std::vector<std::string>>);
static_assert(!detail::Plain<std::string> && !detail::Serialized<std::string>);

static_assert(detail::fingerprint_v<int> != detail::fingerprint_v<unsigned>);
static_assert(detail::fingerprint_v<int> != detail::fingerprint_v<float>);
static_assert(detail::fingerprint_v<std::vector<double>> !=
              detail::fingerprint_v<std::vector<float>>);
static_assert(detail::fingerprint_v<Dict> != detail::fingerprint_v<Particle>);
static_assert(detail::fingerprint_v<const int&> == detail::fingerprint_v<int>);

// ---- round trips --------------------------------------------------------------------------------

template <class T>
T round_trip(const T& value) {
  detail::Encoded<T> encoded(value);
  return detail::decode<T>(encoded.bytes());
}

template <class T>
class Codec : public ::testing::Test {};
TYPED_TEST_SUITE(Codec, AllTypes, TypeNames);

TYPED_TEST(Codec, RoundTripsManyValues) {
  using T = TypeParam;
  for (int seed = 0; seed < 12; ++seed)
    EXPECT_EQ(round_trip(make_value<T>(seed)), make_value<T>(seed));
  EXPECT_EQ(round_trip(T{}), T{});
}

TEST(Codec, RoundTripsOtherKinds) {
  EXPECT_EQ(round_trip(std::array<double, 3>{1.5, -2.5, 3.25}),
            (std::array<double, 3>{1.5, -2.5, 3.25}));
  EXPECT_EQ(round_trip(std::optional<int>(7)), std::optional<int>(7));
  EXPECT_EQ(round_trip(std::optional<int>()), std::optional<int>());
  EXPECT_EQ(round_trip(std::vector<Point>{{1, 2, 3, 'x'}, {4, 5, 6, 'y'}}),
            (std::vector<Point>{{1, 2, 3, 'x'}, {4, 5, 6, 'y'}}));
  EXPECT_EQ(round_trip(std::u16string(u"wide")), std::u16string(u"wide"));
  EXPECT_EQ(round_trip(std::vector<std::string>{"a", "", "ccc"}),
            (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(round_trip(std::vector<std::vector<double>>{{}, {1.0}, {2.0, 3.0}}),
            (std::vector<std::vector<double>>{{}, {1.0}, {2.0, 3.0}}));
  EXPECT_EQ(round_trip(std::pair<int, std::string>(3, "three")),
            (std::pair<int, std::string>(3, "three")));
  EXPECT_EQ(round_trip(std::set<std::string>{"x", "y"}), (std::set<std::string>{"x", "y"}));
  EXPECT_EQ(round_trip(std::list<std::string>{"l", "m"}), (std::list<std::string>{"l", "m"}));
  EXPECT_EQ(round_trip(std::deque<int>{1, 2, 3}), (std::deque<int>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::unordered_map<std::string, int>{{"a", 1}, {"b", 2}}),
            (std::unordered_map<std::string, int>{{"a", 1}, {"b", 2}}));
  EXPECT_EQ(round_trip(std::vector<bool>{true, false, true}),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(round_trip(std::array<std::string, 2>{"p", "q"}),
            (std::array<std::string, 2>{"p", "q"}));
  EXPECT_EQ(round_trip(std::vector<Particle>{make_value<Particle>(3), make_value<Particle>(5)}),
            (std::vector<Particle>{make_value<Particle>(3), make_value<Particle>(5)}));
  EXPECT_EQ(round_trip(std::string(1 << 20, 'z')), std::string(1 << 20, 'z'));
}

TEST(Codec, PlainValuesAndRangesAreTheirOwnBytes) {
  const int number = 0x01020304;
  detail::Encoded<int> encoded_int(number);
  ASSERT_EQ(encoded_int.bytes().size(), sizeof(int));
  EXPECT_EQ(encoded_int.bytes().data(), reinterpret_cast<const std::byte*>(&number));

  const std::vector<double> values{1.0, 2.0, 3.0};
  detail::Encoded<std::vector<double>> encoded_vector(values);
  EXPECT_EQ(encoded_vector.bytes().size(), 3 * sizeof(double));
  EXPECT_EQ(encoded_vector.bytes().data(), reinterpret_cast<const std::byte*>(values.data()));

  const std::string text = "abc";
  detail::Encoded<std::string> encoded_text(text);
  EXPECT_EQ(encoded_text.bytes().size(), 3u);

  const std::vector<double> empty;
  detail::Encoded<std::vector<double>> encoded_empty(empty);
  EXPECT_EQ(encoded_empty.bytes().size(), 0u);
  EXPECT_TRUE(detail::decode<std::vector<double>>(encoded_empty.bytes()).empty());
}

// ---- bad bytes ----------------------------------------------------------------------------------

std::vector<std::byte> encode(const auto& value) {
  detail::Encoded<std::remove_cvref_t<decltype(value)>> encoded(value);
  return {encoded.bytes().begin(), encoded.bytes().end()};
}

TEST(Codec, PlainValueOfTheWrongSizeIsATypeMismatch) {
  const std::vector<std::byte> three(3), nine(9), none;
  EXPECT_THROW(detail::decode<int>(three), unipar::TypeMismatch);
  EXPECT_THROW(detail::decode<int>(none), unipar::TypeMismatch);
  EXPECT_THROW(detail::decode<double>(nine), unipar::TypeMismatch);
  EXPECT_THROW(detail::decode<Point>(three), unipar::TypeMismatch);
  const std::vector<std::byte> twelve(12);
  EXPECT_THROW(detail::decode<std::vector<double>>(twelve), unipar::TypeMismatch);
  EXPECT_THROW(detail::decode<std::vector<Point>>(nine), unipar::TypeMismatch);
  EXPECT_EQ(detail::decode<std::vector<int>>(twelve).size(), 3u);
}

template <class T>
void expect_every_truncation_is_a_mismatch(const T& value) {
  const auto bytes = encode(value);
  ASSERT_FALSE(bytes.empty());
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_THROW(detail::decode<T>(std::span(bytes).first(size)), unipar::TypeMismatch)
        << size << " of " << bytes.size() << " bytes";
  }
  auto longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_THROW(detail::decode<T>(longer), unipar::TypeMismatch) << "a trailing byte";
  EXPECT_EQ(detail::decode<T>(bytes), value);
}

TEST(Codec, TruncatedOrOverlongSerializedBytesAreATypeMismatch) {
  expect_every_truncation_is_a_mismatch(make_value<Particle>(7));
  expect_every_truncation_is_a_mismatch(make_value<Dict>(3));
  expect_every_truncation_is_a_mismatch(std::vector<std::string>{"alpha", "", "gamma"});
  expect_every_truncation_is_a_mismatch(std::pair<int, std::string>(1, "one"));
  expect_every_truncation_is_a_mismatch(std::set<std::string>{"x", "yy"});
  expect_every_truncation_is_a_mismatch(std::vector<bool>{true, false});
}

/// Returns `bytes` with the 8-byte little-endian length found at `offset` replaced by `length`.
std::vector<std::byte> with_length(std::vector<std::byte> bytes, std::size_t offset,
                                   std::uint64_t length) {
  for (int i = 0; i < 8; ++i) bytes.at(offset + i) = static_cast<std::byte>(length >> (8 * i));
  return bytes;
}

/// Finds the first 8-byte little-endian `value` in `bytes`.
std::size_t offset_of(const std::vector<std::byte>& bytes, std::uint64_t value) {
  for (std::size_t at = 0; at + 8 <= bytes.size(); ++at) {
    if (with_length(bytes, at, value) == bytes) return at;
  }
  ADD_FAILURE() << "length " << value << " not found";
  return 0;
}

/// The message of the TypeMismatch that decoding `bytes` as T throws, or what happened instead.
template <class T>
std::string mismatch_message(const std::vector<std::byte>& bytes) {
  try {
    (void)detail::decode<T>(bytes);
  } catch (const unipar::TypeMismatch& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(not a TypeMismatch: ") + e.what() + ")";
  }
  return "(decoded without error)";
}

TEST(Codec, AbsurdLengthsAreATypeMismatchBeforeAnythingIsAllocated) {
  // One flipped byte in a length must not ask for exabytes (an AddressSanitizer build aborts on
  // such a request, an ordinary one pages in memory it zero-fills): a string or collection that
  // claims more elements than bytes follow is corrupt, and the message says what was claimed.
  const auto strings = encode(std::vector<std::string>{"abcdefg"});
  const auto counts = {std::uint64_t{1} << 62, std::uint64_t{1} << 40, std::uint64_t{100}};
  for (std::uint64_t claim : counts) {
    const auto text = with_length(strings, offset_of(strings, 7), claim);
    EXPECT_TRUE(contains(mismatch_message<std::vector<std::string>>(text),
                         "string of " + std::to_string(claim) + " elements"));
    const auto list = with_length(strings, offset_of(strings, 1), claim);
    EXPECT_TRUE(contains(mismatch_message<std::vector<std::string>>(list),
                         "collection of " + std::to_string(claim) + " elements"));
  }
  const auto doubles = encode(std::map<int, std::vector<double>>{{1, {2.0, 3.0}}});
  const auto huge = with_length(doubles, offset_of(doubles, 2), std::uint64_t{1} << 61);
  EXPECT_THROW((void)(detail::decode<std::map<int, std::vector<double>>>(huge)),
               unipar::TypeMismatch);
}

TEST(Codec, WrongTypeDecodedFromSerializedBytesIsATypeMismatch) {
  const auto particle = encode(make_value<Particle>(3));
  // The bytes of a Particle decoded as a map: whatever happens, it is a TypeMismatch or a value.
  try {
    detail::decode<Dict>(particle);
  } catch (const unipar::TypeMismatch&) {
  }
  EXPECT_THROW(detail::decode<Particle>(encode(std::string("not a particle at all"))),
               unipar::TypeMismatch);
}

/// Tries `mutations` corruptions of `bytes`; every decode either gives a value or throws
/// TypeMismatch. Returns a description of the first other outcome, or "".
template <class T>
std::string fuzz_decode(const std::vector<std::byte>& bytes, std::mt19937& random) {
  auto try_decode = [&](const std::vector<std::byte>& candidate) -> std::string {
    try {
      (void)detail::decode<T>(candidate);
    } catch (const unipar::TypeMismatch&) {
    } catch (const std::exception& e) {
      return std::string("unexpected exception: ") + e.what();
    } catch (...) {
      return "unexpected non-std exception";
    }
    return {};
  };
  // Every byte set to a few telling values, then random multi-byte corruptions.
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int value : {0x00, 0x01, 0x7F, 0x80, 0xFF, static_cast<int>(bytes[i]) ^ 0x10}) {
      auto candidate = bytes;
      candidate[i] = static_cast<std::byte>(value);
      if (auto problem = try_decode(candidate); !problem.empty()) {
        return problem + " (byte " + std::to_string(i) + " set to " + std::to_string(value) + ")";
      }
    }
  }
  std::uniform_int_distribution<std::size_t> position(0, bytes.size() - 1);
  std::uniform_int_distribution<int> byte_value(0, 255);
  for (int round = 0; round < 600; ++round) {
    auto candidate = bytes;
    for (int k = 0; k <= round % 3; ++k)
      candidate[position(random)] = static_cast<std::byte>(byte_value(random));
    if (auto problem = try_decode(candidate); !problem.empty()) return problem + " (random round)";
  }
  return {};
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool under_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool under_sanitizer = true;
#else
constexpr bool under_sanitizer = false;
#endif
#else
constexpr bool under_sanitizer = false;
#endif

/// The virtual memory this process uses now, in bytes.
std::size_t virtual_memory_size() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

/// In a child process with an address-space limit: fuzzes the decoders, exits 0 when every
/// corruption gave a value or a TypeMismatch, 1 (with the problem on stderr) otherwise.
[[noreturn]] void fuzz_in_child() {
  // A corrupted length field can ask for gigabytes; the limit turns that into bad_alloc (which
  // must become TypeMismatch) instead of exhausting the machine.
  const rlim_t limit = virtual_memory_size() + (rlim_t{64} << 20);
  const rlimit address_space{limit, limit};
  setrlimit(RLIMIT_AS, &address_space);
  std::mt19937 random(12345);
  std::string problem = fuzz_decode<Particle>(encode(make_value<Particle>(7)), random);
  if (problem.empty()) problem = fuzz_decode<Dict>(encode(make_value<Dict>(3)), random);
  if (problem.empty()) {
    problem = fuzz_decode<std::vector<std::string>>(
        encode(std::vector<std::string>{"alpha", "", "gamma"}), random);
  }
  if (problem.empty()) {
    problem = fuzz_decode<std::vector<Particle>>(
        encode(std::vector<Particle>{make_value<Particle>(1), make_value<Particle>(2)}), random);
  }
  if (!problem.empty()) {
    std::fprintf(stderr, "%s\n", problem.c_str());
    std::_Exit(1);
  }
  std::_Exit(0);
}

TEST(Codec, CorruptSerializedBytesAreATypeMismatchNeverACrash) {
  if (under_sanitizer) GTEST_SKIP() << "needs an address-space limit, which sanitizers cannot use";
  if (unipar::testing::backend_spec() != "serial") {
    GTEST_SKIP() << "independent of the backend: runs once, in the serial registration";
  }
  EXPECT_EXIT(fuzz_in_child(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace unipar_test
