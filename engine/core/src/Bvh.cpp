#include <mx/core/Bvh.h>

#include <tbb/parallel_for.h>

#include <algorithm>
#include <bit>
#include <vector>

namespace mx::core {

Status buildBvh(std::span<const float> positions, std::span<const uint32_t> indices, uint32_t maxTrianglesPerLeaf,
                PartitionOutput& out) {
  if (maxTrianglesPerLeaf == 0) return {ErrorCode::InvalidArgument, "maxTrianglesPerLeaf must be >= 1"};
  const auto& codes = out.codes;
  const size_t n = out.order.size();
  out.nodes.clear();
  if (n == 0) return Status::ok();

  // Top-down split in pre-order (explicit stack: right pushed first so the left subtree follows
  // its parent directly). `parent` links are patched when a child is emitted.
  struct Pending {
    uint32_t begin, end;
    int32_t parent;
    bool isLeft;
  };
  std::vector<Pending> stack{{0, uint32_t(n), -1, false}};
  while (!stack.empty()) {
    Pending p = stack.back();
    stack.pop_back();
    const int32_t self = int32_t(out.nodes.size());
    BvhNode node;
    node.begin = p.begin;
    node.end = p.end;
    out.nodes.push_back(node);
    if (p.parent >= 0) (p.isLeft ? out.nodes[p.parent].left : out.nodes[p.parent].right) = self;
    if (p.end - p.begin <= maxTrianglesPerLeaf) continue;
    uint32_t split;
    const uint32_t first = codes[p.begin], last = codes[p.end - 1];
    if (first == last) {
      split = p.begin + (p.end - p.begin) / 2;
    } else {
      const uint32_t bit = 31u - uint32_t(std::countl_zero(first ^ last));
      const uint32_t mask = 1u << bit;
      split = uint32_t(std::partition_point(codes.begin() + p.begin, codes.begin() + p.end,
                                            [mask](uint32_t c) { return (c & mask) == 0; }) -
                       codes.begin());
    }
    stack.push_back({split, p.end, self, false});
    stack.push_back({p.begin, split, self, true});
  }

  // Leaf bounds from their triangles' vertices, then parents from children (children follow
  // their parents in pre-order, so a reverse sweep sees children first).
  std::vector<uint32_t> leaves;
  for (uint32_t i = 0; i < out.nodes.size(); ++i)
    if (out.nodes[i].isLeaf()) leaves.push_back(i);
  tbb::parallel_for(size_t(0), leaves.size(), [&](size_t k) {
    BvhNode& node = out.nodes[leaves[k]];
    Aabbf box;
    for (uint32_t i = node.begin; i < node.end; ++i) {
      const uint32_t t = out.order[i];
      for (int c = 0; c < 3; ++c) {
        const float* v = &positions[3 * size_t(indices[3 * size_t(t) + c])];
        box.extend(v[0], v[1], v[2]);
      }
    }
    node.bounds = box;
  });
  for (size_t i = out.nodes.size(); i-- > 0;) {
    BvhNode& node = out.nodes[i];
    if (node.isLeaf()) continue;
    node.bounds = out.nodes[node.left].bounds;
    node.bounds.extend(out.nodes[node.right].bounds);
  }
  return Status::ok();
}

} // namespace mx::core
