#include "Files.h"
#include "HttpErrors.h"
#include "Routes.h"

#include <mx/engine/TilerConfig.h>

#include <charconv>

namespace mx::service {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// Everything the page loads comes from this origin; WebAssembly (CesiumJS' decoders) may compile;
/// CesiumJS' workers are module scripts of this origin. No inline script, no framing. Inline styles
/// are allowed: CesiumJS' widget writes style attributes and a <style> element (the page's own
/// code styles through the CSSOM only).
constexpr const char* kViewerCsp = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
                                   "connect-src 'self' data: blob:; img-src 'self' data: blob:; "
                                   "style-src 'self' 'unsafe-inline'; "
                                   "font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::optional<double> number(std::string_view s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? std::optional<double>(v) : std::nullopt;
}

/// Whether `rel` names a file whose name never changes meaning: the esbuild bundle (content hash
/// in its name) or a file of one CesiumJS version.
bool immutablePath(const std::string& rel) { return rel.rfind("assets/", 0) == 0 || rel.rfind("cesium-", 0) == 0; }

} // namespace

json tilerKeysJson() {
  json keys = json::array();
  for (const auto& k : engine::tilerConfigKeys()) {
    json values = json::array(), ranges = json::array();
    std::string_view rest = k.allowed;
    while (!rest.empty()) {
      const size_t bar = rest.find('|');
      const std::string_view part = trim(rest.substr(0, bar));
      rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
      const size_t dots = part.find("..");
      auto lo = dots == std::string_view::npos ? std::nullopt : number(trim(part.substr(0, dots)));
      auto hi = dots == std::string_view::npos ? std::nullopt : number(trim(part.substr(dots + 2)));
      if (lo && hi)
        ranges.push_back({*lo, *hi});
      else if (auto v = number(part); v && (k.type == "integer" || k.type == "number"))
        ranges.push_back({*v, *v});
      else
        values.push_back(std::string(part));
    }
    json key = {{"name", k.name},
                {"type", k.type},
                {"default", k.defaultValue},
                {"allowed", k.allowed},
                {"description", k.description}};
    if (!values.empty()) key["values"] = std::move(values);
    if (!ranges.empty()) key["ranges"] = std::move(ranges);
    if (const std::string_view canonical = engine::canonicalConfigKey(k.name); canonical != k.name)
      key["aliasOf"] = canonical;
    keys.push_back(std::move(key));
  }
  return keys;
}

void Routes::serveConfigKeys(const httplib::Request&, httplib::Response& res) {
  res.set_header("Cache-Control", "public, max-age=300");
  sendJson(res, 200, {{"keys", tilerKeysJson()}});
}

void Routes::serveViewer(const httplib::Request& req, httplib::Response& res) {
  std::string rel = req.matches.size() > 1 ? req.matches[1].str() : std::string();
  if (rel.empty()) rel = "index.html";
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  const fs::path root = config.viewerDir;
  std::error_code ec;
  if (!fs::is_regular_file(root / "index.html", ec))
    return sendError(res, ApiError::FileNotFound,
                     "The web viewer is not built: run scripts/build-viewer.sh, or point viewerDir at a built viewer.");
  const std::optional<fs::path> file = safeRelativePath(rel) ? regularFileUnder(root, rel) : std::nullopt;
  if (!file) return sendError(res, ApiError::FileNotFound, "No such file in the viewer.");
  const std::string etag = fileETag(*file);
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", immutablePath(rel) ? "public, max-age=31536000, immutable" : "no-cache");
  if (rel == "index.html") {
    res.set_header("Content-Security-Policy", kViewerCsp);
    res.set_header("X-Frame-Options", "DENY");
  }
  if (etagMatches(req.get_header_value("If-None-Match"), etag)) {
    res.status = 304;
    return;
  }
  std::string content;
  if (!readFile(*file, content)) return sendError(res, ApiError::InternalServerError, "Cannot read the file.");
  res.set_content(std::move(content), contentTypeFor(*file).c_str());
}

} // namespace mx::service
