// Harness: the codec's decoders (codec.hpp, serialization.hpp, std_serialization.hpp), which
// every received value goes through. The first byte picks the type (every family: plain,
// contiguous, serialized std containers, a class with serialize(), optional / variant / tuple /
// pair); the rest is the message. Bytes that are not one value must throw unipar::Error;
// bytes that are must survive a round trip: encode(decode(x)) decodes to a value that encodes
// to the same bytes, and decoding into a value that already holds one gives the same.
#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "fuzz_types.hpp"
#include "unipar/codec.hpp"
#include "unipar/error.hpp"
#include "unipar/serialization.hpp"

namespace {

using unipar::detail::ConstBytes;

template <class T>
std::vector<std::byte> encode(const T& value) {
  const unipar::detail::Encoded<T> encoded(value);
  return {encoded.bytes().begin(), encoded.bytes().end()};
}

/// Decodes into `out`, which may hold a value already (a receive into the caller's variable).
template <class T>
void decode_into(ConstBytes bytes, T& out) {
  unipar::detail::Decoder<T> decoder(out);
  const unipar::detail::MutableBytes target = decoder.prepare(bytes.size());
  if (!bytes.empty()) std::memcpy(target.data(), bytes.data(), bytes.size());
  decoder.finish();
}

/// An unordered container encodes in its iteration order, which depends on how it was built:
/// equal ones may encode differently, so they are compared as values.
template <class T>
inline constexpr bool unordered = false;
template <class K, class V>
inline constexpr bool unordered<std::unordered_map<K, V>> = true;

template <class T>
bool same_value(const T& a, const T& b, const std::vector<std::byte>& b_bytes) {
  if constexpr (unordered<T>) {
    return a == b;
  } else {
    return unipar::fuzz::same_bytes(encode(a), b_bytes);
  }
}

template <class T>
void check(ConstBytes bytes) {
  T value{};
  try {
    value = unipar::detail::decode<T>(bytes);
  } catch (const unipar::Error&) {
    return;  // not one T: refused, as it must be
  }
  const std::vector<std::byte> once = encode(value);
  T again{};
  try {
    again = unipar::detail::decode<T>(once);
  } catch (const unipar::Error&) {
    unipar::fuzz::fail("the encoding of a decoded value is refused");
  }
  unipar::fuzz::require(same_value(again, value, once),
                        "decode(encode(decode(x))) differs from decode(x)");
  // Into a variable that holds a value already (its old contents must not leak into the new).
  T reused = unipar::fuzz::sample_value<T>();
  decode_into(once, reused);
  unipar::fuzz::require(same_value(reused, value, once),
                        "decoding into a used variable gives another value");
}

template <class... Ts>
void check_one_of(std::size_t index, ConstBytes bytes, unipar::fuzz::TypeList<Ts...>) {
  std::size_t i = 0;
  ((i++ == index ? check<Ts>(bytes) : void()), ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  unipar::fuzz::Input input(unipar::fuzz::as_bytes(data, size));
  const std::size_t index = input.byte() % unipar::fuzz::codec_type_count;
  check_one_of(index, input.rest(), unipar::fuzz::CodecTypes{});
  return 0;
}
