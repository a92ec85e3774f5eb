// The Mesh Export API as its documentation shows it: the seed page's example bodies sent
// verbatim, tilerConfig outputFormat b3dm through the service, the iTwin an iModel was registered
// with, and the protocol points a client depends on (case-insensitive ids, RFC 7240 Prefer, 405
// with Allow, one ETag per content encoding).
#include "ServiceTestSupport.h"

#include <sqlite3.h>

using namespace mx;
using namespace mx::test;

namespace {

constexpr const char* kSeedImodel = "b80f4fc2-4dbb-42c5-bb1f-f5aace3977dc";
constexpr const char* kSeedChangeset = "ed94ed9a0704918d36eeb620219f5e17d8858858";
constexpr const char* kITwin = "5A0B9C1D-2E3F-4a5b-8c6d-7e8f9a0b1c2d";

/// small.bim as the seed's iModel (its DbGuid) at the seed's changeset, registered with an iTwin.
std::string seedImodel(const fs::path& dir) {
  const fs::path p = dir / "seed.bim";
  fs::copy_file(fixture("small.bim"), p, fs::copy_options::overwrite_existing);
  sqlite3* db = nullptr;
  sqlite3_open(p.c_str(), &db);
  const std::string sql =
      "UPDATE be_Prop SET Data = x'b80f4fc24dbb42c5bb1ff5aace3977dc' WHERE Namespace = 'be_Db' AND Name = 'DbGuid';"
      "INSERT INTO be_Local (Name, Val) VALUES ('ParentChangeSetId', '" +
      std::string(kSeedChangeset) + "'), ('parentChangeset', '{\"id\":\"" + kSeedChangeset + "\",\"index\":7}')";
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  service::ImodelStore store(dir / "imodels");
  auto e = store.add(p, true, "", kITwin);
  EXPECT_TRUE(e) << e.status().toString();
  return e ? e->iModelId : "";
}

httplib::Result postText(const TestService& s, const std::string& text) {
  return s.client().Post("/mesh-export/", TestService::auth(), text, "application/json");
}

} // namespace

TEST(ServiceSeed, TheSeedsExampleBodiesAreAcceptedVerbatim) {
  const fs::path dir = freshDir("seed");
  ASSERT_EQ(seedImodel(dir), kSeedImodel);
  TestService s(dir);
  // Start export: the request example, then the StartExport schema's example (both as printed).
  const std::string request =
      R"({ "iModelId": "b80f4fc2-4dbb-42c5-bb1f-f5aace3977dc", "changesetId": "ed94ed9a0704918d36eeb620219f5e17d8858858", "exportType": "3DTiles" })";
  const std::string schema =
      R"({ "iModelId": "b80f4fc2-4dbb-42c5-bb1f-f5aace3977dc", "changesetId": "ed94ed9a0704918d36eeb620219f5e17d8858858", "exportType": "3DTiles", "tilerConfig": [ { "key": "maxTileSize", "value": 128 }, { "key": "enableCompression", "value": true }, { "key": "outputFormat", "value": "glb" } ] })";
  std::vector<std::string> ids;
  for (const std::string& text : {request, schema}) {
    auto r = postText(s, text);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 202) << text << "\n" << r->body;
    const json e = body(r)["export"];
    EXPECT_EQ(e["request"]["iModelId"], kSeedImodel);
    EXPECT_EQ(e["request"]["changesetId"], kSeedChangeset);
    EXPECT_EQ(e["request"]["changesetIndex"], "7");
    EXPECT_EQ(e["request"]["exportType"], "3DTiles");
    // Registered with an iTwin: both fields echo it (lower case), the old name too.
    EXPECT_EQ(e["request"]["iTwinId"], service::normalizeITwinId(kITwin).value());
    EXPECT_EQ(e["request"]["contextId"], e["request"]["iTwinId"]);
    ids.push_back(e["id"]);
  }
  EXPECT_NE(ids[0], ids[1]);
  for (const auto& id : ids) ASSERT_EQ(s.waitDone(id)["status"], "Complete") << id;

  // The tilerConfig one: every tile at most 128 KiB, compressed (EXT_meshopt_compression), glb.
  const fs::path out = dir / "exports" / ids[1];
  size_t tiles = 0;
  for (const auto& f : fs::directory_iterator(out)) {
    if (f.path().filename() == "tileset.json") continue;
    ++tiles;
    EXPECT_EQ(f.path().extension(), ".glb");
    EXPECT_LE(f.file_size(), 128u * 1024) << f.path().filename();
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    EXPECT_NE(bytes.find("\"extensionsRequired\":[\"KHR_mesh_quantization\",\"EXT_meshopt_compression\"]"),
              std::string::npos);
  }
  EXPECT_GT(tiles, 0u);
  // The tilerConfig is stored and echoed as sent.
  EXPECT_EQ(s.getExport(ids[1])["request"]["tilerConfig"], json::parse(schema)["tilerConfig"]);

  // Ids are case-insensitive: the upper-case GUIDs name the same iModel, changeset and export.
  auto toUpper = [](std::string t) {
    for (auto& c : t) c = char(std::toupper(static_cast<unsigned char>(c)));
    return t;
  };
  std::string upper = request;
  for (const std::string id : {kSeedImodel, kSeedChangeset}) upper.replace(upper.find(id), id.size(), toUpper(id));
  auto again = postText(s, upper);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 202) << again->body;
  EXPECT_EQ(body(again)["export"]["id"], ids[0]);
  EXPECT_EQ(s.getExport(toUpper(ids[0]))["id"], ids[0]);
  json listed = body(
      s.client().Get(std::string("/mesh-export/?iModelId=B80F4FC2-4DBB-42C5-BB1F-F5AACE3977DC"), TestService::auth()));
  EXPECT_EQ(listed["exports"].size(), 2u) << listed.dump();
}

TEST(ServiceSeed, OutputFormatB3dmThroughTheService) {
  const fs::path dir = freshDir("seed-b3dm");
  const std::string imodel = addImodel(dir, "demo.bim");
  TestService s(dir);
  const std::string id =
      startExport(s, imodel, {{"tilerConfig", json::array({{{"key", "outputFormat"}, {"value", "b3dm"}}})}});
  const json e = s.waitDone(id);
  ASSERT_EQ(e["status"], "Complete") << e.dump();
  const auto [base, query] = splitHref(e["_links"]["mesh"]["href"]);
  auto c = s.client();
  auto ts = c.Get(base + "/tileset.json?" + query);
  ASSERT_TRUE(ts && ts->status == 200);
  const json tileset = json::parse(ts->body);
  EXPECT_EQ(tileset["asset"]["version"], "1.0");
  const std::string uri = tileset["root"]["content"]["uri"];
  EXPECT_EQ(fs::path(uri).extension(), ".b3dm");
  auto tile = c.Get(base + "/" + uri + "?" + query);
  ASSERT_TRUE(tile && tile->status == 200);
  EXPECT_EQ(tile->body.substr(0, 4), "b3dm");
  EXPECT_EQ(tile->get_header_value("Content-Type"), "application/octet-stream");

  // IMODEL writes iMdl: b3dm (or compression) for it is a 422 naming tilerConfig, before any work.
  auto r = s.post({{"iModelId", imodel},
                   {"exportType", "IMODEL"},
                   {"tilerConfig", json::array({{{"key", "outputFormat"}, {"value", "b3dm"}}})}});
  expectJsonError(r, 422, "InvalidMeshExportRequest");
  EXPECT_EQ(body(r)["error"]["details"][0]["target"], "tilerConfig");
  r = s.post({{"iModelId", imodel},
              {"tilerConfig", json::array({{{"key", "enableCompression"}, {"value", true}},
                                           {{"key", "meshoptCompression"}, {"value", true}}})}});
  expectJsonError(r, 422, "InvalidMeshExportRequest");
  EXPECT_NE(body(r)["error"]["details"][0]["message"].get<std::string>().find("another name of meshoptCompression"),
            std::string::npos);
}

TEST(ServiceSeed, UploadsKeepTheirITwin) {
  const fs::path dir = freshDir("seed-itwin");
  TestService s(dir);
  std::ifstream in(fixture("small.bim"), std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto c = s.client();
  expectJsonError(c.Post("/imodels?iTwinId=not%20an%20id", TestService::auth(), bytes, "application/octet-stream"), 422,
                  "InvalidIModel");
  auto up = c.Post(std::string("/imodels?iTwinId=") + kITwin, TestService::auth(), bytes, "application/octet-stream");
  ASSERT_TRUE(up);
  ASSERT_EQ(up->status, 201) << up->body;
  const json m = body(up)["iModel"];
  EXPECT_EQ(m["iTwinId"], service::normalizeITwinId(kITwin).value());
  // Another iTwin for the same iModel is refused; the list keeps the first.
  auto other = c.Post("/imodels?iTwinId=0000", TestService::auth(), bytes, "application/octet-stream");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 409) << other->body;
  EXPECT_EQ(body(other)["error"]["details"][0]["code"], "ITwinMismatch");
  EXPECT_EQ(body(c.Get("/imodels", TestService::auth()))["iModels"][0]["iTwinId"], m["iTwinId"]);
  const std::string id = startExport(s, m["id"]);
  EXPECT_EQ(s.getExport(id)["request"]["iTwinId"], m["iTwinId"]);
}

TEST(ServiceSeed, PreferIsParsedAsRfc7240) {
  Data d = makeData("seed-prefer");
  TestService s(d.dir);
  startExport(s, d.small);
  auto full = [&](const httplib::Headers& h) {
    json l = body(s.client().Get("/mesh-export/", TestService::auth(kDevToken, h)));
    EXPECT_EQ(l["exports"].size(), 1u);
    return !l["exports"].empty() && l["exports"][0].contains("request");
  };
  EXPECT_TRUE(full({{"Prefer", "return=representation"}}));
  EXPECT_TRUE(full({{"Prefer", "RETURN=Representation"}}));
  EXPECT_TRUE(full({{"Prefer", "  return = representation ;foo=bar"}}));
  EXPECT_TRUE(full({{"Prefer", "handling=lenient, return=\"representation\""}}));
  EXPECT_TRUE(full({{"Prefer", "respond-async"}, {"Prefer", "return=representation"}}));
  EXPECT_FALSE(full({{"Prefer", "return=minimal"}}));
  EXPECT_FALSE(full({{"Prefer", "x-return=representation"}}));
  EXPECT_FALSE(full({{"Prefer", "foo=\"return=representation\""}}));
  EXPECT_FALSE(full({}));
}

TEST(ServiceSeed, KnownRoutesAnswerOtherMethodsWith405AndAllow) {
  Data d = makeData("seed-405");
  TestService s(d.dir);
  auto c = s.client();
  struct Case {
    std::string method, path, allow;
  };
  for (const Case& k : std::vector<Case>{{"PUT", "/mesh-export/", "GET, HEAD, POST, OPTIONS"},
                                         {"PATCH", "/mesh-export", "GET, HEAD, POST, OPTIONS"},
                                         {"DELETE", "/mesh-export/", "GET, HEAD, POST, OPTIONS"},
                                         {"PUT", "/mesh-export/abc", "GET, HEAD, DELETE, OPTIONS"},
                                         {"POST", "/mesh-export/abc/", "GET, HEAD, DELETE, OPTIONS"},
                                         {"DELETE", "/imodels", "GET, HEAD, POST, OPTIONS"},
                                         {"POST", "/tiles/abc/tileset.json", "GET, HEAD, OPTIONS"},
                                         {"POST", "/healthz", "GET, HEAD, OPTIONS"}}) {
    SCOPED_TRACE(k.method + " " + k.path);
    httplib::Request req;
    req.method = k.method;
    req.path = k.path;
    req.headers = TestService::auth();
    auto r = c.send(req);
    expectJsonError(r, 405, "MethodNotAllowed");
    EXPECT_EQ(r->get_header_value("Allow"), k.allow);
  }
  // Unknown paths stay 404.
  expectJsonError(c.Put("/nothing-here", "", "text/plain"), 404, "ResourceNotFound");
  expectJsonError(c.Delete("/mesh-export/abc/def", TestService::auth()), 404, "ResourceNotFound");
}

TEST(ServiceSeed, GzipAndIdentityHaveTheirOwnETags) {
  const fs::path dir = freshDir("seed-etag");
  const std::string imodel = addImodel(dir, "demo.bim");
  TestService s(dir);
  const json e = s.waitDone(startExport(s, imodel));
  ASSERT_EQ(e["status"], "Complete");
  const auto [base, query] = splitHref(e["_links"]["mesh"]["href"]);
  httplib::Client raw("127.0.0.1", s.svc->port());
  raw.set_decompress(false);
  const json tileset = json::parse(raw.Get(base + "/tileset.json?" + query)->body);
  for (const std::string& file : {std::string("tileset.json"), tileset["root"]["content"]["uri"].get<std::string>()}) {
    SCOPED_TRACE(file);
    const std::string url = base + "/" + file + "?" + query;
    auto identity = raw.Get(url);
    auto gzip = raw.Get(url, {{"Accept-Encoding", "gzip"}});
    ASSERT_TRUE(identity && gzip);
    EXPECT_TRUE(identity->get_header_value("Content-Encoding").empty());
    EXPECT_EQ(gzip->get_header_value("Content-Encoding"), "gzip");
    const std::string a = identity->get_header_value("ETag"), b = gzip->get_header_value("ETag");
    ASSERT_FALSE(a.empty());
    EXPECT_NE(a, b);
    EXPECT_EQ(identity->get_header_value("Vary"), "Accept-Encoding");
    EXPECT_EQ(gzip->get_header_value("Vary"), "Accept-Encoding");
    // Each ETag validates its own representation only.
    EXPECT_EQ(raw.Get(url, {{"If-None-Match", a}})->status, 304);
    EXPECT_EQ(raw.Get(url, {{"Accept-Encoding", "gzip"}, {"If-None-Match", b}})->status, 304);
    EXPECT_EQ(raw.Get(url, {{"Accept-Encoding", "gzip"}, {"If-None-Match", a}})->status, 200);
    EXPECT_EQ(raw.Get(url, {{"If-None-Match", b}})->status, 200);
  }
}
