/// @file block_tree.hpp
/// @brief The fixed reduction tree of reduce_blocks / allreduce_blocks: one binary tree over
/// the global item index, whatever the number of processes.
///
/// Node (level, index) holds items [index * 2^level, (index + 1) * 2^level) of the n items;
/// its value is op(left child, right child), or its left child alone when the right child holds
/// no item (it starts at or after n). The result is the root's value. Each process covers its
/// block [begin, end) with the largest aligned nodes that fit (at most 2 log n of them),
/// computes them, and root joins the nodes of every process bottom-up: the same combinations
/// of the same values in the same order, so the result is bit-identical on any number of
/// processes (and `op` need not be commutative).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace unipar::detail {

struct TreeNode {
  std::uint64_t level = 0;
  std::uint64_t index = 0;
  std::uint64_t begin() const { return index << level; }
};

/// The largest aligned nodes that cover [begin, end), in order.
std::vector<TreeNode> tree_cover(std::uint64_t begin, std::uint64_t end);

/// The value of a complete node over `items` (2^level of them), pairwise as the tree does, in
/// one pass in item order: a binary counter of partial values, at most level + 1 of them (no
/// copy of the items, and memory is read once, in order).
template <class T, class Op>
T tree_value(const T* items, std::uint64_t count, Op& op) {
  struct Partial {
    T value;
    unsigned level;
  };
  std::vector<Partial> stack;
  stack.reserve(65);
  for (std::uint64_t i = 0; i < count; ++i) {
    T value = items[i];
    unsigned level = 0;
    while (!stack.empty() && stack.back().level == level) {
      value = std::invoke(op, std::move(stack.back().value), value);
      stack.pop_back();
      ++level;
    }
    stack.push_back({std::move(value), level});
  }
  return std::move(stack.front().value);
}

/// Joins the nodes of every process (in item order, together a partition of [0, n)) into the
/// root's value.
template <class T, class Op>
T tree_join(const std::vector<TreeNode>& nodes, std::vector<T>& values, Op& op) {
  struct Entry {
    TreeNode node;
    T value;
  };
  std::vector<Entry> stack;
  const auto join_siblings = [&] {
    while (stack.size() >= 2) {
      Entry& left = stack[stack.size() - 2];
      const Entry& right = stack.back();
      if (left.node.level != right.node.level || left.node.index % 2 != 0 ||
          right.node.index != left.node.index + 1) {
        return;
      }
      left.value = std::invoke(op, std::move(left.value), right.value);
      left.node = {left.node.level + 1, left.node.index / 2};
      stack.pop_back();
    }
  };
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    stack.push_back({nodes[i], std::move(values[i])});
    join_siblings();
  }
  // What is left is the right edge: a node whose right sibling holds no item is its parent.
  while (stack.size() >= 2) {
    Entry& last = stack.back();
    if (last.node.index % 2 != 0)
      throw std::logic_error("unipar: reduction tree nodes out of order");
    last.node = {last.node.level + 1, last.node.index / 2};
    join_siblings();
  }
  return std::move(stack.front().value);
}

}  // namespace unipar::detail
