// tileset.json and the folder of contents (glb: GlbWriter.h; iMdl: ImdlWriter.h), written on
// oneTBB threads.
#include "TileTreeJson.h"

#include <mx/io/TilesetValidator.h>
#include <mx/io/TilesetWriter.h>

#include <mx/io/B3dmWriter.h>
#include <mx/io/ImdlWriter.h>

#include <nlohmann/json.hpp>
#include <tbb/parallel_for.h>

#include <cstring>
#include <fstream>
#include <limits>

namespace mx::io {

using core::ErrorCode;
using core::Result;
using core::Status;
using nlohmann::json;

json boxVolumeJson(const core::Aabb& b) {
  const double c[3] = {(b.min[0] + b.max[0]) / 2, (b.min[1] + b.max[1]) / 2, (b.min[2] + b.max[2]) / 2};
  const double h[3] = {(b.max[0] - b.min[0]) / 2, (b.max[1] - b.min[1]) / 2, (b.max[2] - b.min[2]) / 2};
  return json{{"box", {c[0], c[1], c[2], h[0], 0, 0, 0, h[1], 0, 0, 0, h[2]}}};
}

json tileTreeJson(const TilesetModel& model) {
  std::vector<json> tiles(model.nodes.size());
  for (size_t i = model.nodes.size(); i-- > 0;) {
    const TilesetNode& n = model.nodes[i];
    json t = {{"boundingVolume", boxVolumeJson(n.box)}, {"geometricError", n.geometricError}};
    if (n.content >= 0) t["content"] = {{"uri", n.uri}, {"boundingVolume", boxVolumeJson(n.contentBox)}};
    if (!n.children.empty()) {
      json kids = json::array();
      for (uint32_t c : n.children) kids.push_back(std::move(tiles[c]));
      t["children"] = std::move(kids);
    }
    tiles[i] = std::move(t);
  }
  json root = tiles.empty() ? json::object() : std::move(tiles[0]);
  root["refine"] = "REPLACE";
  root["transform"] = json(std::vector<double>(model.rootTransform.begin(), model.rootTransform.end()));
  return root;
}

std::string encodeTilesetJson(const TilesetModel& model, const WriteOptions& options) {
  json root = tileTreeJson(model);
  // b3dm is 3D Tiles 1.0 content; glb content needs 1.1 (or 1.0's 3DTILES_content_gltf).
  json doc = {{"asset",
               {{"version", options.format == ContentFormat::B3dm ? "1.0" : "1.1"},
                {"generator", options.generator},
                {"tilesetVersion", options.type == ExportType::Cesium ? "CESIUM" : "3DTILES"}}},
              {"geometricError", model.geometricError},
              {"root", root}};
  return doc.dump(1);
}

Result<WriteReport> writeContents(const TilesetModel& model, const std::filesystem::path& dir,
                                  const WriteOptions& options) {
  WriteReport report;
  std::vector<Status> statuses(model.nodes.size());
  std::vector<uint64_t> sizes(model.nodes.size(), 0);
  tbb::parallel_for(size_t(0), model.nodes.size(), [&](size_t i) {
    const TilesetNode& n = model.nodes[i];
    if (n.content < 0) return;
    const TileContent& content = model.contents[size_t(n.content)];
    auto bytes = options.type == ExportType::Imodel      ? encodeImdl(content, n.geometricError)
                 : options.format == ContentFormat::B3dm ? encodeB3dm(content, options)
                                                         : encodeGlb(content, options);
    if (!bytes) {
      statuses[i] = Status(bytes.status()).withContext(n.uri);
      return;
    }
    std::ofstream out(dir / n.uri, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes->data()), std::streamsize(bytes->size()));
    out.close();
    if (!out) statuses[i] = {ErrorCode::IoError, "cannot write " + (dir / n.uri).string()};
    sizes[i] = bytes->size();
  });
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (!statuses[i]) return statuses[i];
    if (model.nodes[i].content >= 0) {
      ++report.files;
      report.bytes += sizes[i];
      if (sizes[i] > report.largestContentBytes) {
        report.largestContentBytes = sizes[i];
        report.largestContent = model.nodes[i].uri;
      }
    }
  }
  return report;
}

Status writeTilesetJson(const TilesetModel& model, const std::filesystem::path& dir, const WriteOptions& options,
                        WriteReport& report, const ImdlModelExtents* extents) {
  if (model.nodes.empty()) return Status{ErrorCode::InvalidArgument, "tileset has no tiles"};
  const std::string text = options.type == ExportType::Imodel ? encodeImdlTilesetJson(model, options.generator, extents)
                                                              : encodeTilesetJson(model, options);
  std::ofstream out(dir / "tileset.json", std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status{ErrorCode::IoError, "cannot write " + (dir / "tileset.json").string()};
  ++report.files;
  report.bytes += text.size();
  return Status::ok();
}

Result<WriteReport> writeTileset(const TilesetModel& model, const std::filesystem::path& dir,
                                 const WriteOptions& options) {
  MX_ASSIGN_OR_RETURN(WriteReport report, writeContents(model, dir, options));
  MX_RETURN_IF_ERROR(writeTilesetJson(model, dir, options, report));
  return report;
}

} // namespace mx::io
