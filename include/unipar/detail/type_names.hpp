/// @file type_names.hpp
/// @brief Which type a fingerprint stands for, to name both types of a receive type mismatch.
///
/// Every Encoded<T> and Decoder<T> instantiated anywhere in the program registers T's name under
/// its fingerprint during static initialization, so that a process knows the names of all the
/// types the program can send or receive, whether or not it ran the code that sends them. The
/// registry keeps only the `typeid(T).name()` pointer; names are demangled when asked for.
#pragma once

#include <string>
#include <typeinfo>

#include "unipar/detail/bytes.hpp"
#include "unipar/error.hpp"

namespace unipar::detail {

/// Records that `mangled` (a `typeid(T).name()`, which lives as long as the program) names the
/// type with `fingerprint`; the first name recorded for a fingerprint stays. Safe to call during
/// static initialization and from several threads. Returns true.
bool register_type_name(Fingerprint fingerprint, const char* mangled);

/// The demangled name of the type with `fingerprint`, or "" when no Encoded or Decoder of that
/// type is instantiated in this program.
std::string type_name_of(Fingerprint fingerprint);

/// The demangled name of T ("int", "std::vector<double, std::allocator<double> >").
template <class T>
std::string type_name() {
  return demangle(typeid(T).name());
}

/// Registers T under `fingerprint` (detail::fingerprint_v<T>) during static initialization.
/// Encoded<T> and Decoder<T> take its address in their constructors, which instantiates it (and
/// so its initialization) without emitting any code on the send and receive paths.
template <class T, Fingerprint fingerprint>
inline const bool type_name_registered = register_type_name(fingerprint, typeid(T).name());

}  // namespace unipar::detail
