#include "unipar/detail/type_names.hpp"

#include <mutex>
#include <unordered_map>

namespace unipar::detail {
namespace {

struct Registry {
  std::mutex mutex;
  std::unordered_map<Fingerprint, const char*> names;  // typeid(T).name()
};

/// Built on first use, so that registrations from any translation unit's static initialization
/// find it ready; never destroyed, so that it still answers during static destruction.
Registry& registry() {
  static Registry& instance = *new Registry;
  return instance;
}

}  // namespace

bool register_type_name(Fingerprint fingerprint, const char* mangled) {
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  r.names.emplace(fingerprint, mangled);
  return true;
}

std::string type_name_of(Fingerprint fingerprint) {
  const char* mangled = nullptr;
  {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    const auto it = r.names.find(fingerprint);
    if (it == r.names.end()) return {};
    mangled = it->second;
  }
  return demangle(mangled);
}

}  // namespace unipar::detail
