#pragma once
// Helpers of the iModel suites: the fixtures, SQLite edits of copies, and hand-built
// GeometryStream blobs (SnappyToBlob chunks, op framing, flatbuffer tables).
#include <mx/engine/Inspect.h>
#include <mx/io/ImodelReader.h>

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <snappy.h>
#include <sqlite3.h>
#include <tbb/global_control.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

namespace mx::test {

using namespace mx;
using nlohmann::json;
namespace fs = std::filesystem;

inline const fs::path kFixtures = fs::path(MESHEXPORT_SOURCE_DIR) / "datasets" / "imodel" / "fixtures";

inline fs::path tmpDir() {
  const char* env = std::getenv("MESHEXPORT_TEST_TMP");
  auto p = fs::path(env ? env : "/tmp") / "imodel";
  fs::create_directories(p);
  return p;
}

inline json reference(const std::string& name) {
  return json::parse(std::ifstream(kFixtures / (name + ".reference.json")));
}

/// Distance from q to triangle abc (0 on it).
inline double pointTriangleDistance(core::Vec3d q, core::Vec3d a, core::Vec3d b, core::Vec3d c) {
  auto sub = [](core::Vec3d x, core::Vec3d y) { return core::Vec3d{x.x - y.x, x.y - y.y, x.z - y.z}; };
  auto dot = [](core::Vec3d x, core::Vec3d y) { return x.x * y.x + x.y * y.y + x.z * y.z; };
  auto crs = [](core::Vec3d x, core::Vec3d y) {
    return core::Vec3d{x.y * y.z - x.z * y.y, x.z * y.x - x.x * y.z, x.x * y.y - x.y * y.x};
  };
  auto segment = [&](core::Vec3d p0, core::Vec3d p1) {
    const core::Vec3d e = sub(p1, p0);
    const double len2 = dot(e, e);
    const double t = len2 > 0 ? std::clamp(dot(sub(q, p0), e) / len2, 0.0, 1.0) : 0.0;
    const core::Vec3d d = sub(q, {p0.x + t * e.x, p0.y + t * e.y, p0.z + t * e.z});
    return std::sqrt(dot(d, d));
  };
  const core::Vec3d n = crs(sub(b, a), sub(c, a));
  const double nn = dot(n, n);
  if (nn > 0) {
    const double h = dot(sub(q, a), n) / std::sqrt(nn);
    const bool in = dot(crs(sub(b, a), sub(q, a)), n) >= 0 && dot(crs(sub(c, b), sub(q, b)), n) >= 0 &&
                    dot(crs(sub(a, c), sub(q, c)), n) >= 0;
    if (in) return std::abs(h);
  }
  return std::min({segment(a, b), segment(b, c), segment(c, a)});
}

/// Relative-or-absolute closeness: |a-b| <= tol * max(1, |a|, |b|).
inline void expectNear(double a, double b, double tol, const std::string& what) {
  EXPECT_LE(std::abs(a - b), tol * std::max({1.0, std::abs(a), std::abs(b)})) << what << ": " << a << " vs " << b;
}

inline void sqliteExec(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

inline std::string openError(const fs::path& file) {
  auto r = io::ImodelFile::open(file);
  EXPECT_FALSE(r.isOk()) << file;
  return r.isOk() ? std::string() : r.status().message();
}

/// One SnappyToBlob chunk around `raw` bytes.
inline std::vector<uint8_t> chunk(const std::vector<uint8_t>& raw) {
  std::string compressed;
  snappy::Compress(reinterpret_cast<const char*>(raw.data()), raw.size(), &compressed);
  const size_t size = compressed.size() + 2;
  std::vector<uint8_t> out(size);
  out[0] = uint8_t(size & 0xFF);
  out[1] = uint8_t(size >> 8);
  std::memcpy(out.data() + 2, compressed.data(), compressed.size());
  return out;
}

inline std::vector<uint8_t> stream(const std::vector<std::pair<uint32_t, uint32_t>>& ops) {
  std::vector<uint8_t> s(8, 0);
  for (auto [code, size] : ops) {
    const size_t at = s.size();
    s.resize(at + 8 + size, 0);
    std::memcpy(s.data() + at, &code, 4);
    std::memcpy(s.data() + at + 4, &size, 4);
  }
  const uint32_t sig = 0x600, len = uint32_t(s.size() - 8);
  std::memcpy(s.data(), &sig, 4);
  std::memcpy(s.data() + 4, &len, 4);
  return s;
}

/// A stream with a Header op and one op whose payload is given.
inline std::vector<uint8_t> streamWith(uint32_t code, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> s(28, 0);
  const uint32_t header = 1, headerSize = 4, size = uint32_t(payload.size());
  std::memcpy(s.data() + 8, &header, 4);
  std::memcpy(s.data() + 12, &headerSize, 4);
  std::memcpy(s.data() + 20, &code, 4);
  std::memcpy(s.data() + 24, &size, 4);
  s.resize(28 + payload.size()); // (insert() trips a GCC 12 -Warray-bounds false positive at -O3)
  if (!payload.empty()) std::memcpy(s.data() + 28, payload.data(), payload.size());
  const uint32_t sig = 0x600, len = uint32_t(s.size() - 8);
  std::memcpy(s.data(), &sig, 4);
  std::memcpy(s.data() + 4, &len, 4);
  return s;
}

constexpr flatbuffers::voffset_t slot(int id) { return flatbuffers::voffset_t(4 + 2 * id); }

/// A BGFB VariantGeometry table: union tag `type` and its member table.
inline flatbuffers::Offset<void> variantTable(flatbuffers::FlatBufferBuilder& b, uint8_t type,
                                              flatbuffers::Offset<void> member) {
  const auto t = b.StartTable();
  b.AddElement<uint8_t>(slot(0), type, 0);
  b.AddOffset(slot(1), member);
  return flatbuffers::Offset<void>(b.EndTable(t));
}

/// A CurveVector table of `boundary` type over `members` (VariantGeometry tables).
inline flatbuffers::Offset<void> curveVectorTable(flatbuffers::FlatBufferBuilder& b, int32_t boundary,
                                                  const std::vector<flatbuffers::Offset<void>>& members) {
  const auto curves = b.CreateVector(members);
  const auto start = b.StartTable();
  b.AddElement<int32_t>(slot(0), boundary, 0);
  b.AddOffset(slot(1), curves);
  return flatbuffers::Offset<void>(b.EndTable(start));
}

/// A blob of one geometry op (code 8 CurveVector by default): "bg0001fb" + the finished BGFB
/// buffer whose root is `root`, padded to 8 bytes, in a stream behind a Header op.
inline std::vector<uint8_t> geometryOpBlob(flatbuffers::FlatBufferBuilder& b, flatbuffers::Offset<void> root,
                                           uint32_t code = 8) {
  b.Finish(root);
  std::vector<uint8_t> payload = {'b', 'g', '0', '0', '0', '1', 'f', 'b'};
  payload.insert(payload.end(), b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  while (payload.size() % 8) payload.push_back(0);
  return chunk(streamWith(code, payload));
}

/// A CurveVector op (code 8, "bg0001fb" + BGFB) holding one closed loop made of one B-spline
/// curve, built field by field as iTwin.js writes them (format doc section 7).
inline std::vector<uint8_t> bsplineLoopOp(int order, const std::vector<double>& poles,
                                          const std::vector<double>& weights, const std::vector<double>& knots) {
  flatbuffers::FlatBufferBuilder b;
  const auto p = b.CreateVector(poles);
  const auto k = b.CreateVector(knots);
  const auto w = weights.empty() ? flatbuffers::Offset<flatbuffers::Vector<double>>() : b.CreateVector(weights);
  auto start = b.StartTable();
  b.AddElement<int32_t>(slot(0), order, 0);
  b.AddOffset(slot(2), p);
  if (!weights.empty()) b.AddOffset(slot(3), w);
  b.AddOffset(slot(4), k);
  const flatbuffers::Offset<void> curve(b.EndTable(start));
  const auto loop = curveVectorTable(b, 2, {variantTable(b, 3, curve)}); // an outer loop of a BsplineCurve
  return geometryOpBlob(b, variantTable(b, 5, loop));                    // CurveVector
}

} // namespace mx::test
