// glb container (glTF 2.0 §4.4): a 12-byte header (magic "glTF", version 2, total length), a JSON
// chunk, then an optional BIN chunk; every length is checked against the bytes before use.
#include "Document.h"

#include "Accessor.h"
#include "Draco.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <optional>

namespace mx::io::gltf {

namespace {

constexpr uint32_t kGlbMagic = 0x46546C67;  // "glTF"
constexpr uint32_t kChunkJson = 0x4E4F534A; // "JSON"
constexpr uint32_t kChunkBin = 0x004E4942;  // "BIN\0"

uint32_t u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

struct Glb {
  std::span<const uint8_t> json, bin;
  bool hasBin = false;
};

Result<Glb> splitGlb(std::span<const uint8_t> bytes) {
  if (bytes.size() < 20) return malformed("glb is truncated: " + std::to_string(bytes.size()) + " bytes");
  if (u32(bytes.data()) != kGlbMagic) return malformed("not a glb: the magic is not \"glTF\"");
  if (u32(bytes.data() + 4) != 2)
    return Status{ErrorCode::UnsupportedInput,
                  "glb version " + std::to_string(u32(bytes.data() + 4)) + " is not supported (only glTF 2.0)"};
  const uint64_t total = u32(bytes.data() + 8);
  if (total > bytes.size())
    return malformed("glb is truncated: its header says " + std::to_string(total) + " bytes, the file has " +
                     std::to_string(bytes.size()));
  if (total < 20) return malformed("glb header length " + std::to_string(total) + " is too small");
  Glb g;
  uint64_t at = 12;
  bool first = true;
  while (at + 8 <= total) {
    const uint64_t length = u32(bytes.data() + at);
    const uint32_t type = u32(bytes.data() + at + 4);
    if (length > total - at - 8)
      return malformed("glb chunk at byte " + std::to_string(at) + " runs past the end (" + std::to_string(length) +
                       " bytes)");
    const std::span<const uint8_t> data = bytes.subspan(size_t(at + 8), size_t(length));
    if (first) {
      if (type != kChunkJson) return malformed("glb's first chunk is not JSON");
      g.json = data;
      first = false;
    } else if (type == kChunkBin && !g.hasBin) {
      g.bin = data;
      g.hasBin = true;
    } // other chunk types are ignored, as the specification asks
    at += 8 + length;
    at = (at + 3) & ~uint64_t(3);
  }
  if (first) return malformed("glb has no JSON chunk");
  return g;
}

/// A URI's path with %XX escapes decoded (RFC 3986); nullopt on a bad escape.
std::optional<std::string> decodePath(const std::string& uri) {
  std::string out;
  out.reserve(uri.size());
  for (size_t i = 0; i < uri.size(); ++i) {
    if (uri[i] != '%') {
      out += uri[i];
      continue;
    }
    if (i + 2 >= uri.size() || !std::isxdigit(static_cast<unsigned char>(uri[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(uri[i + 2])))
      return std::nullopt;
    out += char(std::stoi(uri.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

Status resolveBuffers(Document& doc, const nlohmann::json& buffers, const Glb* glb, const std::string& baseDir) {
  for (size_t i = 0; i < buffers.size(); ++i) {
    const nlohmann::json& b = buffers[i];
    const std::string name = "buffer " + std::to_string(i);
    if (!b.is_object()) return malformed(name + " is not an object");
    auto length = b.find("byteLength");
    if (length == b.end() || !length->is_number_unsigned())
      return malformed(name + ": byteLength is missing or not a non-negative integer");
    const uint64_t need = length->get<uint64_t>();
    auto uriIt = b.find("uri");
    std::span<const uint8_t> data;
    if (uriIt == b.end()) {
      if (i != 0 || glb == nullptr || !glb->hasBin)
        return malformed(name + " has no uri and there is no glb BIN chunk");
      data = glb->bin;
    } else {
      if (!uriIt->is_string()) return malformed(name + ": uri is not a string");
      const std::string uri = uriIt->get<std::string>();
      if (tinygltf::IsDataURI(uri)) {
        std::string mime;
        std::vector<uint8_t>& out = doc.decoded.emplace_back();
        if (!tinygltf::DecodeDataURI(&out, mime, uri, size_t(need), false))
          return malformed(name + ": its data URI could not be decoded");
        data = out;
      } else {
        const size_t colon = uri.find(':'), slash = uri.find('/');
        if (colon != std::string::npos && (slash == std::string::npos || colon < slash))
          return Status{ErrorCode::UnsupportedInput, name + ": uri \"" + uri.substr(0, colon) +
                                                         ":…\" is not a relative path (only files beside the glTF)"};
        const std::optional<std::string> path = decodePath(uri);
        if (!path || path->empty() || path->find('\0') != std::string::npos)
          return malformed(name + ": uri \"" + uri + "\" is not a valid relative path");
        auto file = core::MappedFile::open(std::filesystem::path(baseDir) / *path);
        if (!file) return malformed(name + ": " + file.status().message());
        data = file->bytes();
        doc.mapped.push_back(data);
        doc.maps.push_back(std::move(*file));
      }
    }
    if (data.size() < need)
      return malformed(name + " is truncated: byteLength " + std::to_string(need) + ", " + std::to_string(data.size()) +
                       " bytes present");
    doc.buffers.push_back(data.first(size_t(need)));
  }
  return Status::ok();
}

} // namespace

Result<std::unique_ptr<Document>> loadDocument(std::span<const uint8_t> bytes, bool binary,
                                               const std::string& baseDir) {
  Glb glb;
  std::span<const uint8_t> jsonBytes = bytes;
  if (binary) {
    MX_ASSIGN_OR_RETURN(glb, splitGlb(bytes));
    jsonBytes = glb.json;
  }
  nlohmann::json j = nlohmann::json::parse(jsonBytes.begin(), jsonBytes.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return malformed("glTF could not be parsed: its JSON is not an object");
  auto doc = std::make_unique<Document>();
  if (auto it = j.find("buffers"); it != j.end()) {
    if (!it->is_array()) return malformed("glTF buffers is not an array");
    MX_RETURN_IF_ERROR(resolveBuffers(*doc, *it, binary ? &glb : nullptr, baseDir));
    j.erase(it);
  }
  // Images are never decoded for tiling; without them tinygltf neither reads nor copies them.
  j.erase("images");
  standInDracoViews(j);
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  tinygltf::TinyGLTF loader;
  loader.SetImageLoader([](tinygltf::Image*, const int, std::string*, std::string*, int, int, const unsigned char*, int,
                           void*) { return true; },
                        nullptr);
  std::string err, warn;
  if (!loader.LoadASCIIFromString(&doc->model, &err, &warn, text.data(), unsigned(text.size()), baseDir))
    return malformed("glTF could not be parsed: " + (err.empty() ? std::string("unknown error") : err));
  // Draco-compressed primitives become plain accessors over decoded buffers.
  MX_RETURN_IF_ERROR(expandDraco(*doc));
  return doc;
}

} // namespace mx::io::gltf
