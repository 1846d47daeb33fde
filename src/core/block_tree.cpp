/// @file block_tree.cpp
/// @brief The cover of a block by the nodes of the fixed reduction tree (detail/block_tree.hpp).
#include "unipar/detail/block_tree.hpp"

namespace unipar::detail {

std::vector<TreeNode> tree_cover(std::uint64_t begin, std::uint64_t end) {
  std::vector<TreeNode> nodes;
  while (begin < end) {
    // The highest level at which `begin` is aligned and the node still fits.
    std::uint64_t level = 0;
    while (level < 55 && (begin & ((std::uint64_t{2} << level) - 1)) == 0 &&
           begin + (std::uint64_t{2} << level) <= end) {
      ++level;
    }
    nodes.push_back({level, begin >> level});
    begin += std::uint64_t{1} << level;
  }
  return nodes;
}

}  // namespace unipar::detail
