/// @file shared_values.cpp
/// @brief Must compile: the shared objects with plain, contiguous and serialized keys and values,
/// arrays as dict and list values, the manager's share/unshare pairs, and handles captured by
/// value in a `map` function (const handles still write, as with std::span).
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "unipar/unipar.hpp"

namespace {

struct Point {
  double x, y;
};

[[maybe_unused]] void use(unipar::Parallelizer& par) {
  unipar::SharedArray<Point> points(par, 10);
  unipar::SharedArray<double> values(par, std::vector<double>{1, 2, 3}, unipar::Sharing::node_local);
  unipar::SharedDict<std::string, std::vector<int>> lists(par);
  unipar::SharedDict<std::pair<int, std::string>, std::map<std::string, double>> nested(par);
  unipar::SharedDict<int, unipar::SharedArray<float>> arrays(par);
  unipar::SharedList<std::string> names(par);
  unipar::SharedList<unipar::SharedArray<int>> blocks(par);

  lists.set("a", {1, 2});
  const std::optional<std::vector<int>> a = lists.get("a");
  nested.update({1, "x"}, [](std::optional<std::map<std::string, double>>& m) { m.emplace(); });
  arrays.set(1, std::vector<float>(4));
  arrays.at(1)[0] = 1.0f;
  names.push_back("n");
  blocks.push_back(unipar::SharedArray<int>(par, 2));
  const std::vector<std::string> all = names.to_vector();
  const std::map<int, unipar::SharedArray<float>> handles = arrays.to_map();

  const auto results = par.map([points](int i) {
    points[static_cast<std::size_t>(i)].x = i;  // a const handle writes
    return i;
  }, std::vector<int>{0, 1});

  unipar::SharedObjectManager manager(par);
  unipar::SharedDict<std::string, unipar::SharedArray<double>> shared =
      manager.share(std::map<std::string, std::vector<double>>{{"a", {1.0}}});
  const std::map<std::string, std::vector<double>> back = manager.unshare(shared);
  unipar::SharedArray<double> array = manager.share(std::vector<double>{1, 2});
  const std::vector<double> plain = manager.unshare(array);
  unipar::SharedList<std::string> list = manager.share(std::vector<std::string>{"x"});
  const std::vector<std::string> words = manager.unshare(list);
  unipar::SharedDict<int, std::string> dict = manager.share(std::map<int, std::string>{{1, "one"}});
  const std::map<int, std::string> entries = manager.unshare(dict);
  (void)a, (void)all, (void)handles, (void)results, (void)back, (void)plain, (void)words,
      (void)entries;
}

}  // namespace
