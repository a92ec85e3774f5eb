#pragma once
// Private to io/gltf: bounds-checked accessor reads. Every accessor is checked against its
// bufferView and buffer before a byte is read, so a hostile file can make the reader return an
// error but never read out of bounds.
#include "Document.h"

#include <mx/core/Result.h>

#include <tiny_gltf.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <span>
#include <string>

namespace mx::io::gltf {

using core::ErrorCode;
using core::Result;
using core::Status;

inline Status malformed(std::string msg) { return {ErrorCode::MalformedInput, std::move(msg)}; }

/// A checked view of an accessor: element i, component c as double (normalized when asked).
class AccessorView {
public:
  static Result<AccessorView> make(const Document& d, int index, const std::string& what) {
    const tinygltf::Model& m = d.model;
    if (index < 0 || size_t(index) >= m.accessors.size())
      return malformed(what + ": accessor " + std::to_string(index) + " does not exist");
    const tinygltf::Accessor& a = m.accessors[size_t(index)];
    const std::string name = what + " (accessor " + std::to_string(index) + ")";
    if (a.sparse.isSparse) return Status{ErrorCode::UnsupportedInput, name + ": sparse accessors are not supported"};
    AccessorView v;
    v._accessor = &a;
    v._components = tinygltf::GetNumComponentsInType(uint32_t(a.type));
    v._componentSize = tinygltf::GetComponentSizeInBytes(uint32_t(a.componentType));
    if (v._components <= 0 || v._componentSize <= 0) return malformed(name + ": bad type or componentType");
    if (a.count == 0) return v;
    if (a.bufferView < 0 || size_t(a.bufferView) >= m.bufferViews.size())
      return malformed(name + ": bufferView " + std::to_string(a.bufferView) + " does not exist");
    const tinygltf::BufferView& bv = m.bufferViews[size_t(a.bufferView)];
    if (bv.buffer < 0 || size_t(bv.buffer) >= d.buffers.size())
      return malformed(name + ": buffer " + std::to_string(bv.buffer) + " does not exist");
    const std::span<const uint8_t> buf = d.buffers[size_t(bv.buffer)];
    const size_t elementSize = size_t(v._components) * size_t(v._componentSize);
    v._stride = bv.byteStride ? bv.byteStride : elementSize;
    if (v._stride < elementSize) return malformed(name + ": byteStride smaller than an element");
    const size_t need = a.byteOffset + v._stride * (a.count - 1) + elementSize;
    if (bv.byteOffset > buf.size() || bv.byteLength > buf.size() - bv.byteOffset)
      return malformed(name + ": bufferView exceeds its buffer (buffer missing or truncated?)");
    if (need > bv.byteLength) return malformed(name + ": accessor exceeds its bufferView");
    v._data = buf.data() + bv.byteOffset + a.byteOffset;
    return v;
  }

  /// Where element i starts (for releasing the pages of a mapped buffer behind a reader).
  [[nodiscard]] const uint8_t* element(size_t i) const { return _data + i * _stride; }
  [[nodiscard]] size_t count() const { return _accessor->count; }
  [[nodiscard]] int components() const { return _components; }
  [[nodiscard]] int type() const { return _accessor->type; }
  [[nodiscard]] int componentType() const { return _accessor->componentType; }
  [[nodiscard]] bool normalized() const { return _accessor->normalized; }
  /// Element i, component c of an UNSIGNED_BYTE accessor, raw.
  [[nodiscard]] uint32_t byte(size_t i, int c) const { return _data[i * _stride + size_t(c)]; }

  [[nodiscard]] double get(size_t i, int c) const {
    const uint8_t* p = _data + i * _stride + size_t(c) * size_t(_componentSize);
    const bool norm = _accessor->normalized;
    switch (_accessor->componentType) {
    case TINYGLTF_COMPONENT_TYPE_FLOAT: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE:
      return norm ? p[0] / 255.0 : p[0];
    case TINYGLTF_COMPONENT_TYPE_BYTE: {
      int8_t s;
      std::memcpy(&s, p, 1);
      return norm ? std::max(s / 127.0, -1.0) : s;
    }
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT: {
      uint16_t s;
      std::memcpy(&s, p, 2);
      return norm ? s / 65535.0 : s;
    }
    case TINYGLTF_COMPONENT_TYPE_SHORT: {
      int16_t s;
      std::memcpy(&s, p, 2);
      return norm ? std::max(s / 32767.0, -1.0) : s;
    }
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT: {
      uint32_t s;
      std::memcpy(&s, p, 4);
      return s;
    }
    default:
      return 0;
    }
  }
  [[nodiscard]] uint32_t getIndex(size_t i) const {
    const uint8_t* p = _data + i * _stride;
    switch (_accessor->componentType) {
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE:
      return p[0];
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT: {
      uint16_t s;
      std::memcpy(&s, p, 2);
      return s;
    }
    default: {
      uint32_t s;
      std::memcpy(&s, p, 4);
      return s;
    }
    }
  }

private:
  const tinygltf::Accessor* _accessor = nullptr;
  const uint8_t* _data = nullptr;
  size_t _stride = 0;
  int _components = 0;
  int _componentSize = 0;
};

/// Runs `ok(i)` for every i in [0, n) on all cores (a large accessor's elements) and returns the
/// smallest i for which it returned false, or n: the same answer as a serial loop that stops at
/// the first bad element, so error messages do not depend on scheduling.
template <typename Body> size_t firstFailure(size_t n, Body&& ok) {
  constexpr size_t kGrain = 1 << 16;
  if (n <= kGrain) {
    for (size_t i = 0; i < n; ++i)
      if (!ok(i)) return i;
    return n;
  }
  std::atomic<size_t> first{n};
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, kGrain), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i < r.end() && i < first.load(std::memory_order_relaxed); ++i)
      if (!ok(i)) {
        size_t seen = first.load();
        while (i < seen && !first.compare_exchange_weak(seen, i)) {
        }
        return;
      }
  });
  return first.load();
}

/// The bytes of bufferView `index`, checked against its buffer; empty on any problem.
inline std::span<const uint8_t> bufferViewBytes(const Document& d, int index) {
  if (index < 0 || size_t(index) >= d.model.bufferViews.size()) return {};
  const tinygltf::BufferView& bv = d.model.bufferViews[size_t(index)];
  if (bv.buffer < 0 || size_t(bv.buffer) >= d.buffers.size()) return {};
  const std::span<const uint8_t> data = d.buffers[size_t(bv.buffer)];
  if (bv.byteOffset > data.size() || bv.byteLength > data.size() - bv.byteOffset) return {};
  return data.subspan(bv.byteOffset, bv.byteLength);
}

} // namespace mx::io::gltf
