/// @file bytes.hpp
/// @brief The byte-level vocabulary shared by the typed API and the backends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace unipar::detail {

/// Identifies the C++ type a message was encoded from; checked on receive.
using Fingerprint = std::uint64_t;

using ConstBytes = std::span<const std::byte>;
using MutableBytes = std::span<std::byte>;

/// Where a backend puts the bytes of one received message.
///
/// The backend learns the payload size first and calls `prepare(size)` exactly once; it then
/// fills the returned span (which must be `size` bytes long). `prepare` throws TypeMismatch when
/// the size cannot be a valid encoding of the destination type.
class ByteSink {
 public:
  virtual MutableBytes prepare(std::size_t size) = 0;

 protected:
  ~ByteSink() = default;
};

/// Where the root of a gather puts the contribution of each process.
///
/// `prepare(process, size)` is called once per process, in increasing process order.
class GatherSink {
 public:
  virtual MutableBytes prepare(int process, std::size_t size) = 0;

 protected:
  ~GatherSink() = default;
};

/// The part of a scatter that the root sends to one process.
class ScatterSource {
 public:
  virtual ConstBytes part(int process) = 0;

 protected:
  ~ScatterSource() = default;
};

}  // namespace unipar::detail
