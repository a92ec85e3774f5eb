// The b3dm writer: the 28-byte header, the feature and batch tables as space-padded JSON, and the
// glb from GlbWriter (format B3dm) on an 8-byte boundary.
#include "B3dmFormat.h"

#include <mx/io/B3dmWriter.h>
#include <mx/io/GlbWriter.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <limits>

namespace mx::io {

using core::ErrorCode;
using core::Result;
using core::Status;
using nlohmann::json;

std::string id64String(uint64_t id) {
  if (id == 0) return "0";
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (; id; id >>= 4) hex.insert(hex.begin(), digits[id & 15]);
  return "0x" + hex;
}

namespace {

/// JSON text padded with spaces so that `start` + its length is a multiple of 8.
std::string paddedJson(const json& j, size_t start) {
  std::string text = j.dump();
  while ((start + text.size()) % 8) text.push_back(' ');
  return text;
}

void appendU32(std::vector<uint8_t>& out, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  out.insert(out.end(), b, b + 4);
}

} // namespace

Result<std::vector<uint8_t>> encodeB3dm(const TileContent& content, const WriteOptions& options) {
  WriteOptions glbOptions = options;
  glbOptions.format = ContentFormat::B3dm;
  MX_ASSIGN_OR_RETURN(std::vector<uint8_t> glbBytes, encodeGlb(content, glbOptions));
  // encodeGlb pads a B3dm-format glb to a multiple of 8 bytes, so it ends on an 8-byte boundary.

  const json featureTable = {{"BATCH_LENGTH", content.features.size()}};
  json element = json::array(), model = json::array(), subcategory = json::array();
  for (const FeatureRow& f : content.features) {
    element.push_back(id64String(f.element));
    model.push_back(id64String(f.model));
    subcategory.push_back(id64String(f.subcategory));
  }
  const json batchTable = {
      {"element", std::move(element)}, {"model", std::move(model)}, {"subcategory", std::move(subcategory)}};
  const std::string ft = paddedJson(featureTable, b3dm::kHeaderBytes);
  const std::string bt = paddedJson(batchTable, b3dm::kHeaderBytes + ft.size());
  const size_t total = b3dm::kHeaderBytes + ft.size() + bt.size() + glbBytes.size();
  if (total > std::numeric_limits<uint32_t>::max()) return Status{ErrorCode::InvalidArgument, "tile larger than 4 GiB"};

  std::vector<uint8_t> out;
  out.reserve(total);
  appendU32(out, b3dm::kMagic);
  appendU32(out, b3dm::kVersion);
  appendU32(out, uint32_t(total));
  appendU32(out, uint32_t(ft.size()));
  appendU32(out, 0);
  appendU32(out, uint32_t(bt.size()));
  appendU32(out, 0);
  out.insert(out.end(), ft.begin(), ft.end());
  out.insert(out.end(), bt.begin(), bt.end());
  out.insert(out.end(), glbBytes.begin(), glbBytes.end());
  return out;
}

} // namespace mx::io
