/// @file type_names_test.cpp
/// @brief The registry from type fingerprints to type names: every type with an Encoded or a
/// Decoder anywhere in the program is known from static initialization on, whether or not that
/// code ever ran; other fingerprints have no name.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "unipar/detail/type_names.hpp"
#include "values.hpp"

namespace unipar_test {
namespace {

namespace detail = unipar::detail;

struct OnlyEncodedHere {
  std::int64_t value;
};
struct OnlyDecodedHere {
  double value;
};

// Never called: instantiating these is what registers the two types.
[[maybe_unused]] void never_called(unipar::Parallelizer& par) {
  par.send(OnlyEncodedHere{1}, 0);
  [[maybe_unused]] const auto decoded = par.receive<OnlyDecodedHere>(0);
}

TEST(TypeNames, NameOfAType) {
  EXPECT_EQ(detail::type_name<int>(), "int");
  EXPECT_EQ(detail::type_name<const int&>(), "int");
  EXPECT_NE(detail::type_name<std::vector<double>>().find("vector<double"), std::string::npos);
  EXPECT_NE(detail::type_name<Particle>().find("Particle"), std::string::npos);
}

TEST(TypeNames, NameOfAFingerprint) {
  EXPECT_NE(detail::type_name_of(detail::fingerprint_v<std::vector<double>>).find("vector<double"),
            std::string::npos);
  EXPECT_EQ(detail::type_name_of(detail::fingerprint_v<std::vector<double>>),
            detail::type_name<std::vector<double>>());
  EXPECT_EQ(detail::type_name_of(detail::fingerprint_v<int>), "int");
  EXPECT_EQ(detail::type_name_of(detail::fingerprint_v<Dict>), detail::type_name<Dict>());
  EXPECT_EQ(detail::type_name_of(detail::fingerprint_v<Particle>), detail::type_name<Particle>());
}

TEST(TypeNames, TypesOfCodeThatNeverRanAreKnown) {
  EXPECT_NE(detail::type_name_of(detail::fingerprint_v<OnlyEncodedHere>).find("OnlyEncodedHere"),
            std::string::npos);
  EXPECT_NE(detail::type_name_of(detail::fingerprint_v<OnlyDecodedHere>).find("OnlyDecodedHere"),
            std::string::npos);
}

TEST(TypeNames, UnknownFingerprintHasNoName) {
  EXPECT_EQ(detail::type_name_of(0), "");
  EXPECT_EQ(detail::type_name_of(detail::fnv1a("no type has this fingerprint")), "");
  // A type no Encoded or Decoder is instantiated for.
  struct NeverSent {};
  EXPECT_EQ(detail::type_name_of(detail::fingerprint_v<NeverSent>), "");
}

}  // namespace
}  // namespace unipar_test
