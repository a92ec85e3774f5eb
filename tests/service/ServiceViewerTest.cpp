// The web viewer's routes (loopback only): GET / and /viewer redirect relatively (a path prefix in
// front keeps working), /viewer/* serves the built files with their types, caching and the page's
// Content-Security-Policy, never a file outside viewerDir; an unbuilt viewer says how to build it;
// GET /config-keys describes every tilerConfig key in a form the page can build inputs from, and
// what it describes is what the tiler accepts.
#include "ServiceTestSupport.h"

#include <mx/engine/TilerConfig.h>

namespace mx::test {
namespace {

/// A fake built viewer: index.html, a hashed bundle, a CesiumJS file, and a secret beside it.
fs::path fakeViewer(const fs::path& dir) {
  const fs::path v = dir / "viewer";
  fs::create_directories(v / "assets");
  fs::create_directories(v / "cesium-1.0.0" / "ThirdParty");
  std::ofstream(v / "index.html") << "<!doctype html><title>meshexport</title>";
  std::ofstream(v / "assets" / "main-ABC123.js") << "console.log('app');";
  std::ofstream(v / "assets" / "style-DEF456.css") << "body{}";
  std::ofstream(v / "cesium-1.0.0" / "ThirdParty" / "draco.wasm") << std::string("\0asm", 4);
  std::ofstream(dir / "secret.txt") << "not for the page";
  return v;
}

TEST(ServiceViewer, ServesTheBuiltPageWithItsTypesCachingAndPolicy) {
  const fs::path dir = freshDir("viewer");
  const fs::path viewer = fakeViewer(dir);
  TestService s(dir / "data", [&](service::ServiceConfig& c) { c.viewerDir = viewer; });
  auto c = s.client();

  for (const char* path : {"/", "/viewer"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 302) << path;
    EXPECT_EQ(r->get_header_value("Location"), "viewer/") << path; // relative: holds behind a prefix
  }
  auto page = c.Get("/viewer/");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  EXPECT_EQ(page->body, "<!doctype html><title>meshexport</title>");
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page->get_header_value("Cache-Control"), "no-cache");
  const std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self' 'wasm-unsafe-eval';"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");

  // Revalidation: the ETag answers 304.
  auto again = c.Get("/viewer/index.html", {{"If-None-Match", page->get_header_value("ETag")}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);

  // Hashed bundles and a CesiumJS version's files never change: cached for a year.
  const std::pair<const char*, const char*> files[] = {
      {"/viewer/assets/main-ABC123.js", "text/javascript; charset=utf-8"},
      {"/viewer/assets/style-DEF456.css", "text/css; charset=utf-8"},
      {"/viewer/cesium-1.0.0/ThirdParty/draco.wasm", "application/wasm"}};
  for (const auto& [path, type] : files) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_EQ(r->get_header_value("Content-Type"), type) << path;
    EXPECT_EQ(r->get_header_value("Cache-Control"), "public, max-age=31536000, immutable") << path;
  }

  // Nothing outside viewerDir, however it is spelled; a missing file is a JSON 404.
  for (const char* path : {"/viewer/../secret.txt", "/viewer/%2e%2e/secret.txt", "/viewer/assets/../../secret.txt",
                           "/viewer//etc/passwd", "/viewer/missing.js"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(r->body.find("not for the page"), std::string::npos) << path;
  }
  // The page takes no body and no other method.
  auto post = c.Post("/viewer/", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD, OPTIONS");
}

TEST(ServiceViewer, AnUnbuiltViewerSaysHowToBuildIt) {
  const fs::path dir = freshDir("viewer-unbuilt");
  TestService s(dir / "data", [&](service::ServiceConfig& c) { c.viewerDir = dir / "nothing-here"; });
  auto r = s.client().Get("/viewer/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(body(r)["error"]["message"].get<std::string>().find("scripts/build-viewer.sh"), std::string::npos)
      << r->body;
}

TEST(ServiceViewer, ConfigKeysDescribeWhatTheTilerAccepts) {
  const fs::path dir = freshDir("config-keys");
  TestService s(dir / "data");
  auto r = s.client().Get("/config-keys");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const json keys = body(r)["keys"];
  ASSERT_EQ(keys.size(), engine::tilerConfigKeys().size());
  for (const json& k : keys) {
    const std::string name = k["name"], type = k["type"], def = k["default"];
    SCOPED_TRACE(name);
    engine::TilerConfig config;
    // The default is accepted.
    EXPECT_TRUE(engine::applyTilerConfig(config, name, def).isOk());
    if (type == "enum" || type == "boolean") {
      ASSERT_TRUE(k.contains("values"));
      for (const auto& v : k["values"])
        EXPECT_TRUE(engine::applyTilerConfig(config, name, v.get<std::string>()).isOk()) << v;
      EXPECT_FALSE(engine::applyTilerConfig(config, name, "no-such-value").isOk());
    } else {
      ASSERT_TRUE(k.contains("ranges"));
      for (const auto& range : k["ranges"]) {
        const double lo = range[0], hi = range[1];
        auto text = [&](double v) {
          std::ostringstream o;
          o.precision(17);
          o << (type == "integer" ? double(int64_t(v)) : v);
          return o.str();
        };
        // The ends of every range are accepted; just outside the outer ends is not.
        EXPECT_TRUE(engine::applyTilerConfig(config, name, text(lo)).isOk()) << lo;
        EXPECT_TRUE(engine::applyTilerConfig(config, name, text(hi)).isOk()) << hi;
      }
      const double lowest = k["ranges"].front()[0], highest = k["ranges"].back()[1];
      EXPECT_FALSE(engine::applyTilerConfig(config, name, std::to_string(highest * 2 + 1)).isOk());
      if (lowest > 0) {
        EXPECT_FALSE(engine::applyTilerConfig(config, name, std::to_string(lowest / 2)).isOk());
      }
    }
  }
  // A second name of a key says which.
  const auto alias =
      std::find_if(keys.begin(), keys.end(), [](const json& k) { return k["name"] == "enableCompression"; });
  ASSERT_NE(alias, keys.end());
  EXPECT_EQ((*alias)["aliasOf"], "meshoptCompression");
}

} // namespace
} // namespace mx::test
