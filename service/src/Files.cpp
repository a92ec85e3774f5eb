#include "Files.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace mx::service {

namespace fs = std::filesystem;

std::string contentTypeFor(const fs::path& p) {
  const std::string e = p.extension().string();
  if (e == ".json") return "application/json";
  if (e == ".glb") return "model/gltf-binary";
  if (e == ".gltf") return "model/gltf+json";
  if (e == ".bin" || e == ".imdl" || e == ".b3dm" || e == ".i3dm" || e == ".cmpt" || e == ".subtree")
    return "application/octet-stream";
  if (e == ".png") return "image/png";
  if (e == ".jpg" || e == ".jpeg") return "image/jpeg";
  if (e == ".ktx2") return "image/ktx2";
  if (e == ".txt" || e == ".log") return "text/plain";
  // The web viewer's files (ViewerRoutes.cpp).
  if (e == ".html") return "text/html; charset=utf-8";
  if (e == ".js" || e == ".mjs") return "text/javascript; charset=utf-8";
  if (e == ".css") return "text/css; charset=utf-8";
  if (e == ".wasm") return "application/wasm";
  if (e == ".svg") return "image/svg+xml";
  if (e == ".map") return "application/json";
  if (e == ".xml") return "application/xml";
  if (e == ".webp") return "image/webp";
  return "application/octet-stream";
}

bool gzipString(std::string_view in, std::string& out, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out.resize(deflateBound(&z, uLong(in.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}

bool readFile(const fs::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = std::move(ss).str();
  return bool(in) || in.eof();
}

bool safeRelativePath(const std::string& rel) {
  if (rel.empty() || rel.front() == '/' || rel.find('\\') != std::string::npos || rel.find('\0') != std::string::npos)
    return false;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    const std::string seg = rel.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = end + 1;
  }
  return true;
}

std::optional<fs::path> regularFileUnder(const fs::path& root, const std::string& rel) {
  std::error_code ec;
  const fs::path canonicalRoot = fs::weakly_canonical(root, ec);
  const fs::path file = fs::weakly_canonical(root / rel, ec);
  const auto mismatch = std::mismatch(canonicalRoot.begin(), canonicalRoot.end(), file.begin(), file.end());
  if (ec || mismatch.first != canonicalRoot.end() || !fs::is_regular_file(file, ec)) return std::nullopt;
  return file;
}

std::string fileETag(const fs::path& file, std::string_view suffix) {
  std::error_code ec;
  std::ostringstream etag;
  etag << '"' << std::hex << fs::file_size(file, ec) << '-' << fs::last_write_time(file, ec).time_since_epoch().count()
       << suffix << '"';
  return etag.str();
}

bool etagMatches(const std::string& ifNoneMatch, const std::string& etag) {
  return !ifNoneMatch.empty() && (ifNoneMatch == "*" || ifNoneMatch.find(etag) != std::string::npos);
}

} // namespace mx::service
