// The b3dm half of the validator: the 3D Tiles 1.0 Batched 3D Model container around a glb
// (header, feature table, batch table, alignment), then the glb by GlbValidator.cpp with the
// batch length.
#include "B3dmFormat.h"

#include <mx/io/GlbValidator.h>

#include <nlohmann/json.hpp>

#include <cstring>

namespace mx::io {

using nlohmann::json;

namespace {

class B3dmChecker {
public:
  B3dmChecker(std::span<const uint8_t> bytes, std::string name, std::vector<std::string>& errors)
      : _bytes(bytes), _name(std::move(name)), _errors(errors) {}

  bool run(double bounds[6], uint64_t& triangles) {
    if (_bytes.size() < b3dm::kHeaderBytes) return fail("shorter than the 28-byte b3dm header");
    uint32_t h[7];
    std::memcpy(h, _bytes.data(), sizeof h);
    if (h[0] != b3dm::kMagic) return fail("magic is not \"b3dm\"");
    if (h[1] != b3dm::kVersion) return fail("version " + std::to_string(h[1]) + " is not 1");
    if (h[2] != _bytes.size())
      return fail("byteLength " + std::to_string(h[2]) + " != file size " + std::to_string(_bytes.size()));
    if (h[2] % 8) return fail("byteLength is not a multiple of 8");
    const uint64_t ftJson = h[3], ftBin = h[4], btJson = h[5], btBin = h[6];
    const uint64_t glbStart = b3dm::kHeaderBytes + ftJson + ftBin + btJson + btBin;
    if (glbStart > _bytes.size()) return fail("feature and batch table lengths run past the end of the file");
    if ((b3dm::kHeaderBytes + ftJson) % 8 || (b3dm::kHeaderBytes + ftJson + ftBin) % 8 ||
        (b3dm::kHeaderBytes + ftJson + ftBin + btJson) % 8 || glbStart % 8)
      return fail("a feature or batch table section does not end on an 8-byte boundary");
    if (glbStart == _bytes.size()) return fail("no glb after the tables");

    const json ft = section(b3dm::kHeaderBytes, ftJson);
    if (!featureTable(ft, ftBin)) return false;
    const uint64_t batchLength = ft["BATCH_LENGTH"].get<uint64_t>();
    if (btJson == 0) {
      if (btBin) return fail("a batch table binary body without its JSON");
      return fail("no batch table: element, model and subcategory ids are missing");
    }
    const json bt = section(b3dm::kHeaderBytes + ftJson + ftBin, btJson);
    if (!batchTable(bt, batchLength, btBin)) return false;
    return validateGlb(_bytes.subspan(glbStart), _name + " (glb)", _errors, bounds, triangles, batchLength);
  }

private:
  bool fail(const std::string& msg) {
    _errors.push_back(_name + ": " + msg);
    return false;
  }

  json section(uint64_t offset, uint64_t length) const {
    const char* p = reinterpret_cast<const char*>(_bytes.data() + offset);
    return json::parse(p, p + length, nullptr, false);
  }

  bool featureTable(const json& ft, uint64_t binaryBytes) {
    if (ft.is_discarded() || !ft.is_object()) return fail("feature table JSON is not an object");
    if (!ft.contains("BATCH_LENGTH") || !ft["BATCH_LENGTH"].is_number_unsigned())
      return fail("feature table needs BATCH_LENGTH, an integer >= 0");
    if (ft["BATCH_LENGTH"].get<uint64_t>() == 0) return fail("BATCH_LENGTH is 0 but the glb has features");
    for (auto it = ft.begin(); it != ft.end(); ++it) {
      if (it.key() == "BATCH_LENGTH" || it.key() == "extensions" || it.key() == "extras") continue;
      if (it.key() != "RTC_CENTER") return fail("feature table member " + it.key() + " is not a b3dm semantic");
      const json& c = it.value();
      const bool inline3 = c.is_array() && c.size() == 3 && c[0].is_number() && c[1].is_number() && c[2].is_number();
      if (!inline3) return fail("RTC_CENTER must be an array of 3 numbers");
    }
    if (binaryBytes) return fail("feature table binary body is not used by any semantic");
    return true;
  }

  bool batchTable(const json& bt, uint64_t batchLength, uint64_t binaryBytes) {
    if (bt.is_discarded() || !bt.is_object()) return fail("batch table JSON is not an object");
    for (auto it = bt.begin(); it != bt.end(); ++it) {
      if (it.key() == "extensions" || it.key() == "extras") continue;
      const json& v = it.value();
      if (v.is_array()) {
        if (v.size() != batchLength)
          return fail("batch table property " + it.key() + " has " + std::to_string(v.size()) +
                      " values, BATCH_LENGTH is " + std::to_string(batchLength));
      } else if (v.is_object()) {
        const uint64_t offset = v.value("byteOffset", uint64_t(~0ull));
        if (offset >= binaryBytes) return fail("batch table property " + it.key() + ": byteOffset outside the body");
      } else {
        return fail("batch table property " + it.key() + " is neither an array nor a binary reference");
      }
    }
    for (const char* id : {"element", "model", "subcategory"}) {
      if (!bt.contains(id) || !bt[id].is_array()) return fail(std::string("batch table lacks the ") + id + " ids");
      for (const json& v : bt[id])
        if (!v.is_string() || !id64(v.get<std::string>()))
          return fail(std::string("batch table ") + id + " value " + v.dump() + " is not an Id64 string");
    }
    return true;
  }

  /// "0" or "0x" and 1-16 lower-case hex digits without a leading zero.
  static bool id64(const std::string& s) {
    if (s == "0") return true;
    if (s.size() < 3 || s.size() > 18 || s.rfind("0x", 0) != 0 || s[2] == '0') return false;
    for (size_t i = 2; i < s.size(); ++i)
      if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
  }

  std::span<const uint8_t> _bytes;
  std::string _name;
  std::vector<std::string>& _errors;
};

} // namespace

bool validateB3dm(std::span<const uint8_t> bytes, const std::string& name, std::vector<std::string>& errors,
                  double bounds[6], uint64_t& triangles) {
  B3dmChecker checker(bytes, name, errors);
  try {
    return checker.run(bounds, triangles);
  } catch (const json::exception& e) {
    errors.push_back(name + ": b3dm JSON has a member of the wrong type: " + e.what());
    return false;
  }
}

} // namespace mx::io
