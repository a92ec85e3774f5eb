// The Mesh Export API over real HTTP on a loopback port: routes, validation, errors, auth, rate
// limit, listing, idempotency, auto-generation, retention, upload.
#include "ServiceTestSupport.h"

#include <mx/service/Config.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>
#include <mx/service/SqliteJobStore.h>

#include <sqlite3.h>

#include <set>

namespace mx::test {
namespace {

TEST(ServiceApi, StartExportAcceptsAndCompletes) {
  Data d = makeData("start");
  TestService s(d.dir);
  auto r = s.post({{"iModelId", d.small}, {"changesetId", ""}, {"exportType", "3DTILES"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  json e = body(r)["export"];
  EXPECT_EQ(e["status"], "NotStarted");
  EXPECT_EQ(e["displayName"], "meshexport small fixture");
  EXPECT_EQ(e["request"]["iModelId"], d.small);
  EXPECT_EQ(e["request"]["exportType"], "3DTILES");
  EXPECT_EQ(e["request"]["changesetId"], "");
  EXPECT_EQ(e["request"]["changesetIndex"], "0");
  // Registered without an iTwin: contextId and iTwinId are omitted, never "".
  EXPECT_FALSE(e["request"].contains("contextId"));
  EXPECT_FALSE(e["request"].contains("iTwinId"));
  EXPECT_FALSE(e.contains("_links"));
  EXPECT_EQ(e["lastModified"].get<std::string>().size(), 20u);
  EXPECT_NE(r->get_header_value("Location").find("/mesh-export/" + e["id"].get<std::string>()), std::string::npos);

  json done = s.waitDone(e["id"]);
  ASSERT_EQ(done["status"], "Complete") << done.dump();
  EXPECT_FALSE(done.contains("error"));
  const json& st = done["stats"];
  for (const char* k :
       {"iModelSize", "rawSize", "compressedSize", "duration", "diskSize", "freeDiskSpace", "exportDirSize"})
    EXPECT_TRUE(st.contains(k) && st[k].is_number()) << k;
  EXPECT_GT(st["rawSize"].get<double>(), 0);
  EXPECT_LE(st["compressedSize"].get<double>(), st["rawSize"].get<double>());
  EXPECT_EQ(st["iModelSize"].get<uint64_t>(), fs::file_size(fixture("small.bim")));
  EXPECT_TRUE(st["startTime"].is_string());
  EXPECT_TRUE(st["metrics"]["counts"]["trianglesIn"].get<uint64_t>() > 0) << st.dump();
  EXPECT_GE(st["exportDirStructure"]["files"].get<int>(), 2);
  const std::string href = done["_links"]["mesh"]["href"];
  EXPECT_EQ(std::count(href.begin(), href.end(), '?'), 1);
  EXPECT_EQ(href.find('#'), std::string::npos);
  EXPECT_FALSE(splitHref(href).second.empty());
}

TEST(ServiceApi, PathsWithAndWithoutSlashAndCors) {
  Data d = makeData("paths");
  TestService s(d.dir);
  auto c = s.client();
  for (const char* p :
       {"/mesh-export", "/mesh-export/", "/mesh-export?client=CesiumJS&clientVersion=1.0&sessionId=x"}) {
    auto r = c.Get(p, TestService::auth(kDevToken, {{"SessionId", "abc"}, {"use-new-exporter", "1"}, {"cdn", "1"}}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << p;
    EXPECT_TRUE(body(r)["exports"].is_array());
    EXPECT_TRUE(body(r)["_links"]["self"]["href"].is_string());
  }
  auto created = s.post({{"iModelId", d.small}});
  const std::string id = body(created)["export"]["id"];
  for (const std::string& p : std::vector<std::string>{"/mesh-export/" + id, "/mesh-export/" + id + "/"}) {
    auto r = c.Get(p, TestService::auth());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << p;
    EXPECT_EQ(body(r)["export"]["id"], id);
  }
  // Preflight without credentials.
  auto pre = c.Options("/mesh-export/", {{"Origin", "http://viewer.test"},
                                         {"Access-Control-Request-Method", "GET"},
                                         {"Access-Control-Request-Headers", "authorization,prefer,accept"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "http://viewer.test");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("authorization"), std::string::npos);
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Methods").find("DELETE"), std::string::npos);
  auto withOrigin = c.Get("/mesh-export/", TestService::auth(kDevToken, {{"Origin", "http://viewer.test"}}));
  EXPECT_EQ(withOrigin->get_header_value("Access-Control-Allow-Origin"), "http://viewer.test");
  // Unknown routes and methods: JSON too.
  expectJsonError(c.Get("/nothing-here"), 404, "ResourceNotFound");
  auto put = c.Put("/mesh-export/", "{}", "application/json");
  ASSERT_TRUE(put);
  EXPECT_GE(put->status, 400);
  EXPECT_EQ(put->get_header_value("Content-Type"), "application/json");
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(body(health)["status"], "ok");
}

struct BadBody {
  std::string name;
  std::string text;
  std::string target;
};

TEST(ServiceApi, InvalidBodiesGet422WithDetails) {
  Data d = makeData("validation");
  TestService s(d.dir, [](service::ServiceConfig& c) { c.maxRequestBytes = 4096; });
  const std::string id = "\"" + d.small + "\"";
  std::string many = "[";
  for (int i = 0; i < 101; ++i)
    many += std::string(i ? "," : "") + "{\"key\":\"k" + std::to_string(i) + "\",\"value\":1}";
  many += "]";
  const std::vector<BadBody> cases = {
      {"not json", "{iModelId:", "body"},
      {"array", "[1,2]", "body"},
      {"string", "\"x\"", "body"},
      {"missing iModelId", "{\"changesetId\":\"\"}", "iModelId"},
      {"empty iModelId", "{\"iModelId\":\"\"}", "iModelId"},
      {"number iModelId", "{\"iModelId\":42}", "iModelId"},
      {"unknown property", "{\"iModelId\":" + id + ",\"geometryOptions\":{}}", "geometryOptions"},
      {"changeset number", "{\"iModelId\":" + id + ",\"changesetId\":5}", "changesetId"},
      {"exportType lower", "{\"iModelId\":" + id + ",\"exportType\":\"3dtiles\"}", "exportType"},
      {"exportType 3DFT", "{\"iModelId\":" + id + ",\"exportType\":\"3DFT\"}", "exportType"},
      {"exportType number", "{\"iModelId\":" + id + ",\"exportType\":1}", "exportType"},
      {"tilerConfig object", "{\"iModelId\":" + id + ",\"tilerConfig\":{}}", "tilerConfig"},
      {"tilerConfig empty", "{\"iModelId\":" + id + ",\"tilerConfig\":[]}", "tilerConfig"},
      {"tilerConfig 101", "{\"iModelId\":" + id + ",\"tilerConfig\":" + many + "}", "tilerConfig"},
      {"item not object", "{\"iModelId\":" + id + ",\"tilerConfig\":[1]}", "tilerConfig[0]"},
      {"key missing", "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"value\":1}]}", "tilerConfig[0].key"},
      {"key empty", "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"key\":\"\",\"value\":1}]}", "tilerConfig[0].key"},
      {"key 257", "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"key\":\"" + std::string(257, 'k') + "\",\"value\":1}]}",
       "tilerConfig[0].key"},
      {"value empty", "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"key\":\"simplifier\",\"value\":\"\"}]}",
       "tilerConfig[0].value"},
      {"value 1001",
       "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"key\":\"simplifier\",\"value\":\"" + std::string(1001, 'v') +
           "\"}]}",
       "tilerConfig[0].value"},
      {"value null", "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"key\":\"simplifier\",\"value\":null}]}",
       "tilerConfig[0].value"},
      {"value object", "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"key\":\"simplifier\",\"value\":{}}]}",
       "tilerConfig[0].value"},
      {"extra item property",
       "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"key\":\"simplifier\",\"value\":\"cluster\",\"x\":1}]}",
       "tilerConfig[0].x"},
      {"unknown key", "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"key\":\"maxTileSise\",\"value\":128}]}",
       "tilerConfig[0].key"},
      {"bad value", "{\"iModelId\":" + id + ",\"tilerConfig\":[{\"key\":\"maxTrianglesPerTile\",\"value\":\"lots\"}]}",
       "tilerConfig[0].value"},
      {"duplicate key",
       "{\"iModelId\":" + id +
           ",\"tilerConfig\":[{\"key\":\"simplifier\",\"value\":\"cluster\"},"
           "{\"key\":\"simplifier\",\"value\":\"quadric\"}]}",
       "tilerConfig[1].key"},
      {"lastModified", "{\"iModelId\":" + id + ",\"lastModified\":\"yesterday\"}", "lastModified"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = s.client().Post("/mesh-export/", TestService::auth(), c.text, "application/json");
    expectJsonError(r, 422, "InvalidMeshExportRequest");
    const json j = body(r);
    EXPECT_EQ(j["error"]["message"], "Cannot create export job.");
    ASSERT_TRUE(j["error"]["details"].is_array() && !j["error"]["details"].empty()) << r->body;
    bool found = false;
    for (const auto& det : j["error"]["details"]) {
      EXPECT_EQ(det["code"], "InvalidRequestBody");
      EXPECT_TRUE(det["message"].is_string());
      found = found || det["target"] == c.target;
    }
    EXPECT_TRUE(found) << "no detail with target " << c.target << ": " << r->body;
  }
  // The seed's own example message.
  auto empty = s.client().Post("/mesh-export/", TestService::auth(), "{\"iModelId\":\"\",\"changesetId\":\"\"}",
                               "application/json");
  EXPECT_EQ(body(empty)["error"]["details"][0]["message"], "iModelId cannot be empty.");
  // None of them created anything.
  auto list = s.client().Get("/mesh-export/", TestService::auth());
  EXPECT_TRUE(body(list)["exports"].empty());
  // Accepted forms: null changeset, numbers and booleans as values, a date-time lastModified.
  auto ok = s.post({{"iModelId", d.small},
                    {"changesetId", nullptr},
                    {"exportType", "CESIUM"},
                    {"lastModified", "2025-03-14T09:25:29Z"},
                    {"tilerConfig", json::array({{{"key", "maxTrianglesPerTile"}, {"value", 5000}},
                                                 {{"key", "meshoptCompression"}, {"value", true}},
                                                 {{"key", "simplifier"}, {"value", "cluster"}}})}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 202) << ok->body;
  EXPECT_FALSE(body(ok)["export"]["request"].contains("lastModified"));
  EXPECT_EQ(body(ok)["export"]["request"]["tilerConfig"].size(), 3u);
  EXPECT_EQ(s.waitDone(body(ok)["export"]["id"])["status"], "Complete");
}

TEST(ServiceApi, NotFoundErrors) {
  Data d = makeData("notfound");
  TestService s(d.dir);
  auto r = s.post({{"iModelId", "00000000-0000-0000-0000-000000000000"}});
  expectJsonError(r, 404, "IModelNotFound");
  EXPECT_EQ(body(r)["error"]["message"], "Requested iModel is not available.");
  expectJsonError(s.post({{"iModelId", d.small}, {"changesetId", "feedface"}}), 404, "IModelNotFound");
  expectJsonError(s.client().Get("/mesh-export/nope", TestService::auth()), 404, "ExportNotFound");
  expectJsonError(s.client().Delete("/mesh-export/nope", TestService::auth()), 404, "ExportNotFound");
  EXPECT_EQ(body(s.client().Get("/mesh-export/nope", TestService::auth()))["error"]["message"],
            "Requested export is not available.");
}

TEST(ServiceApi, ListingPagesOrdersAndFilters) {
  Data d = makeData("listing", true);
  TestService s(d.dir, [](service::ServiceConfig& c) { c.autoGenerate = false; });
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = s.post({{"iModelId", d.small},
                     {"exportType", i == 4 ? "CESIUM" : "3DTiles"},
                     {"tilerConfig", json::array({{{"key", "maxTrianglesPerTile"}, {"value", 1000 + i}}})}});
    ASSERT_EQ(r->status, 202);
    ids.push_back(body(r)["export"]["id"]);
  }
  for (const auto& id : ids) ASSERT_EQ(s.waitDone(id)["status"], "Complete");
  auto c = s.client();
  auto page = [&](const std::string& q, httplib::Headers h = {}) {
    auto r = c.Get("/mesh-export/" + q, TestService::auth(kDevToken, std::move(h)));
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    return body(r);
  };
  json p1 = page("?$top=2");
  EXPECT_EQ(p1["exports"].size(), 2u);
  EXPECT_TRUE(p1["_links"].contains("next"));
  EXPECT_FALSE(p1["_links"].contains("prev"));
  EXPECT_NE(p1["_links"]["self"]["href"].get<std::string>().find("$top=2&$skip=0"), std::string::npos);
  // Follow next links to the end, as frontend-tiles does.
  std::set<std::string> seen;
  json cur = p1;
  int pages = 1;
  while (true) {
    for (const auto& e : cur["exports"]) seen.insert(e["id"].get<std::string>());
    if (!cur["_links"].contains("next")) break;
    auto [path, query] = splitHref(cur["_links"]["next"]["href"]);
    auto r = c.Get(path + "?" + query, TestService::auth());
    cur = body(r);
    ++pages;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_TRUE(cur["_links"].contains("prev"));
  // Minimal by default, representation when asked.
  json minimal = page("?$top=1");
  EXPECT_EQ(minimal["exports"][0].size(), 4u) << minimal.dump();
  json full = page("?$top=1", {{"Prefer", "return=representation"}});
  EXPECT_TRUE(full["exports"][0].contains("request"));
  EXPECT_TRUE(full["exports"][0]["_links"]["mesh"]["href"].is_string());
  // Orders.
  json asc = page("?$orderBy=date:asc"), desc = page("?$orderBy=date%3Adesc");
  ASSERT_EQ(asc["exports"].size(), 5u);
  for (size_t i = 1; i < 5; ++i) {
    EXPECT_LE(asc["exports"][i - 1]["lastModified"].get<std::string>(),
              asc["exports"][i]["lastModified"].get<std::string>());
    EXPECT_EQ(asc["exports"][i]["id"], desc["exports"][4 - i]["id"]);
  }
  // Filters: exportType (3DTILES ≡ 3DTiles, CESIUM apart), iModelId, changesetId; unknown ones ignored.
  EXPECT_EQ(page("?exportType=3DTILES")["exports"].size(), 4u);
  EXPECT_EQ(page("?exportType=3dtiles")["exports"].size(), 4u);
  EXPECT_EQ(page("?exportType=CESIUM")["exports"].size(), 1u);
  EXPECT_EQ(page("?iModelId=" + d.small + "&tileVersion=37&iTwinJS=5.0&cdn=0")["exports"].size(), 5u);
  EXPECT_EQ(page("?iModelId=" + d.demo)["exports"].size(), 0u);
  EXPECT_EQ(page("?iModelId=" + d.small + "&changesetId=")["exports"].size(), 5u);
  EXPECT_EQ(page("?changesetId=abc")["exports"].size(), 0u);
  // Links honour x-api-host-and-root.
  json proxied = page("?$top=1", {{"x-api-host-and-root", "api.example.org/proxy"}});
  EXPECT_EQ(
      proxied["_links"]["next"]["href"].get<std::string>().rfind("https://api.example.org/proxy/mesh-export/?", 0), 0u);
  // Bad parameters.
  for (const char* q : {"?$top=0", "?$top=1001", "?$top=abc", "?$skip=-1", "?$orderBy=name", "?exportType=GLTF"}) {
    SCOPED_TRACE(q);
    auto r = c.Get(std::string("/mesh-export/") + q, TestService::auth());
    expectJsonError(r, 422, "InvalidMeshExportRequest");
    EXPECT_EQ(body(r)["error"]["details"][0]["code"], "InvalidParameter");
  }
  EXPECT_EQ(page("?$top=1000")["exports"].size(), 5u);
}

TEST(ServiceApi, SameRequestReturnsTheSameExport) {
  Data d = makeData("idempotent");
  TestService s(d.dir);
  const std::string a = body(s.post({{"iModelId", d.small}, {"changesetId", ""}}))["export"]["id"];
  const std::string b = body(s.post({{"iModelId", d.small}}))["export"]["id"];
  const std::string c =
      body(s.post({{"iModelId", d.small}, {"changesetId", nullptr}, {"exportType", "3DTILES"}}))["export"]["id"];
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c); // 3DTILES and 3DTiles are one type
  const std::string other =
      body(s.post({{"iModelId", d.small},
                   {"tilerConfig", json::array({{{"key", "simplifier"}, {"value", "quadric"}}})}}))["export"]["id"];
  EXPECT_NE(other, a);
  const std::string cesium = body(s.post({{"iModelId", d.small}, {"exportType", "CESIUM"}}))["export"]["id"];
  EXPECT_NE(cesium, a);
  ASSERT_EQ(s.waitDone(a)["status"], "Complete");
  auto again = s.post({{"iModelId", d.small}});
  EXPECT_EQ(again->status, 202);
  EXPECT_EQ(body(again)["export"]["id"], a);
  EXPECT_TRUE(body(again)["export"]["_links"]["mesh"]["href"].is_string());
  // Another subject gets its own.
  EXPECT_NE(body(s.post({{"iModelId", d.small}}, kOtherToken))["export"]["id"], a);
}

/// Writes a copy of small.bim that claims to be changeset `index` of the same iModel.
fs::path withChangeset(const fs::path& dir, int index, const std::string& id) {
  const fs::path p = dir / ("small-cs" + std::to_string(index) + ".bim");
  fs::copy_file(fixture("small.bim"), p, fs::copy_options::overwrite_existing);
  sqlite3* db = nullptr;
  sqlite3_open(p.c_str(), &db);
  const std::string sql = "INSERT INTO be_Local (Name, Val) VALUES ('ParentChangeSetId', '" + id +
                          "'), ('parentChangeset', '{\"id\":\"" + id + "\",\"index\":" + std::to_string(index) + "}')";
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  return p;
}

TEST(ServiceApi, ChangesetsResolveToLatestOrTheOneAsked) {
  Data d = makeData("changesets");
  const std::string cs1(40, 'a'), cs2(40, 'b');
  withChangeset(d.dir / "imodels", 1, cs1);
  TestService s(d.dir, [](service::ServiceConfig& c) { c.autoGenerate = false; });
  // A newer changeset dropped into the folder while running is found on demand.
  withChangeset(d.dir / "imodels", 2, cs2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  json latest = body(s.post({{"iModelId", d.small}, {"changesetId", ""}}))["export"];
  EXPECT_EQ(latest["request"]["changesetId"], cs2);
  EXPECT_EQ(latest["request"]["changesetIndex"], "2");
  json first = body(s.post({{"iModelId", d.small}, {"changesetId", cs1}}))["export"];
  EXPECT_EQ(first["request"]["changesetId"], cs1);
  EXPECT_EQ(first["request"]["changesetIndex"], "1");
  auto list = body(s.client().Get("/mesh-export/?iModelId=" + d.small, TestService::auth()));
  ASSERT_EQ(list["exports"].size(), 2u);
  EXPECT_EQ(list["exports"][0]["id"], latest["id"]); // default order: newest changeset first
  auto one = body(s.client().Get("/mesh-export/?changesetId=" + cs1, TestService::auth()));
  ASSERT_EQ(one["exports"].size(), 1u);
  EXPECT_EQ(one["exports"][0]["id"], first["id"]);
}

TEST(ServiceApi, ListingAnIModelStartsAnExportOnce) {
  Data d = makeData("autogen");
  TestService s(d.dir);
  auto c = s.client();
  const std::string q = "/mesh-export?iModelId=" + d.small + "&exportType=3DTILES&$top=5&client=CesiumJS";
  json first = body(c.Get(q, TestService::auth(kDevToken, {{"Prefer", "return=representation"}})));
  ASSERT_EQ(first["exports"].size(), 1u);
  const std::string id = first["exports"][0]["id"];
  EXPECT_EQ(first["exports"][0]["request"]["exportType"], "3DTILES");
  json second = body(c.Get(q, TestService::auth()));
  ASSERT_EQ(second["exports"].size(), 1u);
  EXPECT_EQ(second["exports"][0]["id"], id);
  EXPECT_EQ(s.waitDone(id)["status"], "Complete");
  // Unknown iModel: empty, nothing started. No exportType: nothing started.
  EXPECT_TRUE(body(c.Get("/mesh-export?iModelId=nope&exportType=3DTILES", TestService::auth()))["exports"].empty());
  EXPECT_EQ(body(c.Get("/mesh-export?iModelId=" + d.small, TestService::auth()))["exports"].size(), 1u);
  // Off when configured so.
  Data d2 = makeData("autogen-off");
  TestService off(d2.dir, [](service::ServiceConfig& cfg) { cfg.autoGenerate = false; });
  EXPECT_TRUE(body(off.client().Get("/mesh-export?iModelId=" + d2.small + "&exportType=3DTILES",
                                    TestService::auth()))["exports"]
                  .empty());
}

TEST(ServiceApi, RetentionEvictsOnlyWhatTheServiceStarted) {
  // Exports started by a request persist until deleted; keepPerImodel evicts auto-generated ones.
  Data d = makeData("retention");
  const std::string cs1(40, '1'), cs2(40, '2'), cs3(40, '3');
  withChangeset(d.dir / "imodels", 1, cs1);
  withChangeset(d.dir / "imodels", 2, cs2);
  withChangeset(d.dir / "imodels", 3, cs3);
  TestService s(d.dir, [](service::ServiceConfig& c) { c.keepPerImodel = 1; });
  std::vector<std::string> explicitIds;
  for (int i = 0; i < 3; ++i) {
    auto r = s.post({{"iModelId", d.small},
                     {"changesetId", cs3},
                     {"tilerConfig", json::array({{{"key", "maxTrianglesPerTile"}, {"value", 2000 + i}}})}});
    explicitIds.push_back(body(r)["export"]["id"]);
    ASSERT_EQ(s.waitDone(explicitIds.back())["status"], "Complete");
  }
  auto autoFor = [&](const std::string& cs) {
    json l = body(s.client().Get("/mesh-export/?iModelId=" + d.small + "&exportType=3DTILES&changesetId=" + cs,
                                 TestService::auth()));
    EXPECT_EQ(l["exports"].size(), 1u) << l.dump();
    return l["exports"].empty() ? std::string() : l["exports"][0]["id"].get<std::string>();
  };
  const std::string first = autoFor(cs1);
  ASSERT_EQ(s.waitDone(first)["status"], "Complete");
  const std::string second = autoFor(cs2);
  EXPECT_TRUE(s.getExport(first).is_null()) << "the older auto-generated export is evicted";
  EXPECT_FALSE(fs::exists(d.dir / "exports" / first));
  EXPECT_FALSE(s.getExport(second).is_null());
  for (const auto& id : explicitIds) EXPECT_FALSE(s.getExport(id).is_null()) << id;
  const std::string metrics = s.client().Get("/metrics")->body;
  EXPECT_NE(metrics.find("meshexport_exports_evicted_total 1\n"), std::string::npos) << metrics;

  // An operator may opt in: then every export counts, the newest kept per iModel and type.
  Data e = makeData("retention-explicit");
  TestService o(e.dir, [](service::ServiceConfig& c) {
    c.keepPerImodel = 2;
    c.evictExplicitExports = true;
  });
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = o.post(
        {{"iModelId", e.small}, {"tilerConfig", json::array({{{"key", "maxTrianglesPerTile"}, {"value", 2000 + i}}})}});
    ids.push_back(body(r)["export"]["id"]);
    ASSERT_EQ(o.waitDone(ids.back())["status"], "Complete");
  }
  // The third evicted the first (finished); a CESIUM export is counted apart.
  auto cesium = body(o.post({{"iModelId", e.small}, {"exportType", "CESIUM"}}))["export"]["id"];
  EXPECT_TRUE(o.getExport(ids[0]).is_null());
  EXPECT_FALSE(fs::exists(e.dir / "exports" / ids[0]));
  EXPECT_FALSE(o.getExport(ids[1]).is_null());
  EXPECT_FALSE(o.getExport(ids[2]).is_null());
  EXPECT_FALSE(o.getExport(cesium).is_null());
}

TEST(ServiceApi, ImodelExportsCompleteAndHonourTileVersion) {
  Data d = makeData("imodeltype");
  TestService s(d.dir);
  auto r = s.post({{"iModelId", d.small}, {"exportType", "IMODEL"}});
  ASSERT_EQ(r->status, 202);
  json e = s.waitDone(body(r)["export"]["id"]);
  ASSERT_EQ(e["status"], "Complete") << e.dump();
  EXPECT_EQ(e["request"]["exportType"], "IMODEL");
  // The link serves the BENTLEY_BatchedTileSet tileset and its iMdl tiles.
  const auto [base, query] = splitHref(e["_links"]["mesh"]["href"]);
  auto c = s.client();
  auto ts = c.Get(base + "/tileset.json?" + query);
  ASSERT_EQ(ts->status, 200);
  const json tileset = json::parse(ts->body);
  EXPECT_TRUE(tileset["extensions"]["BENTLEY_BatchedTileSet"]["models"].contains("0x11"));
  EXPECT_EQ(tileset["asset"]["tilesetVersion"], "37.0");
  const std::string uri = tileset["root"]["content"]["uri"];
  EXPECT_EQ(uri.substr(uri.size() - 5), ".imdl");
  auto tile = c.Get(base + "/" + uri + "?" + query);
  ASSERT_EQ(tile->status, 200);
  EXPECT_EQ(tile->body.substr(0, 4), "iMdl");
  // tileVersion: frontend-tiles' newest readable major; 3D Tiles exports are not filtered.
  const std::string id = e["id"];
  ASSERT_EQ(s.waitDone(body(s.post({{"iModelId", d.small}}))["export"]["id"])["status"], "Complete");
  auto list = [&](const std::string& q) {
    return body(c.Get("/mesh-export/?iModelId=" + d.small + q, TestService::auth()))["exports"];
  };
  EXPECT_EQ(list("&exportType=IMODEL&tileVersion=37&iTwinJS=5.13.3&$orderBy=date:desc&$top=5").size(), 1u);
  EXPECT_EQ(list("&exportType=IMODEL&tileVersion=38").size(), 1u);
  EXPECT_EQ(list("&exportType=IMODEL&tileVersion=36").size(), 0u); // and no export it could not read is started
  EXPECT_EQ(list("&tileVersion=31").size(), 1u);                   // the 3D Tiles one
  EXPECT_EQ(list("&exportType=IMODEL").size(), 1u);
  expectJsonError(c.Get("/mesh-export/?tileVersion=abc", TestService::auth()), 422, "InvalidMeshExportRequest");
}

TEST(ServiceApi, UploadAcceptsOnlyIModels) {
  Data d = makeData("upload");
  TestService s(d.dir);
  auto c = s.client();
  std::string bytes;
  {
    std::ifstream in(fixture("primitives.bim"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  expectJsonError(c.Post("/imodels", bytes, "application/octet-stream"), 401, "HeaderNotFound");
  auto up = c.Post("/imodels", TestService::auth(), bytes, "application/octet-stream");
  ASSERT_TRUE(up);
  ASSERT_EQ(up->status, 201) << up->body;
  const std::string id = body(up)["iModel"]["id"];
  EXPECT_EQ(body(up)["iModel"]["displayName"], "meshexport primitives fixture");
  auto list = body(c.Get("/imodels", TestService::auth()));
  EXPECT_EQ(list["iModels"].size(), 2u);
  EXPECT_EQ(s.post({{"iModelId", id}})->status, 202);
  for (const std::string& junk :
       std::vector<std::string>{std::string("hello"), std::string("SQLite format 3") + std::string(100, '\0'),
                                bytes.substr(0, bytes.size() / 2)}) {
    auto r = c.Post("/imodels", TestService::auth(), junk, "application/octet-stream");
    expectJsonError(r, 422, "InvalidIModel");
    EXPECT_NE(body(r)["error"]["details"][0]["message"].get<std::string>().find("not a readable iModel"),
              std::string::npos);
  }
  // Nothing half-written stays behind; the upload is its uploader's.
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(d.dir / "imodels"))
    if (e.is_regular_file()) files += e.path().extension() == ".bim" ? 1 : 100;
  EXPECT_EQ(files, 2u);
  EXPECT_TRUE(fs::exists(d.dir / "imodels" / "owners" / service::ImodelStore::ownerKey(service::devSubject("dev")) /
                         (id + "@0.bim")));
}

TEST(ServiceApi, MetricsAreExposed) {
  Data d = makeData("metrics");
  TestService s(d.dir);
  ASSERT_EQ(s.waitDone(body(s.post({{"iModelId", d.small}}))["export"]["id"])["status"], "Complete");
  s.client().Get("/mesh-export/");
  // Requests are counted once their response is sent: give the last one a moment.
  std::unique_ptr<httplib::Response> m;
  for (int i = 0; i < 100; ++i) {
    auto r = s.client().Get("/metrics");
    if (r) m = std::make_unique<httplib::Response>(*r);
    if (m && m->body.find("status=\"401\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  for (const char* needle : {"meshexport_http_requests_total{route=\"/mesh-export/\",method=\"POST\",status=\"202\"} 1",
                             "meshexport_http_requests_total{route=\"/mesh-export/\",method=\"GET\",status=\"401\"} 1",
                             "meshexport_exports{status=\"Complete\"} 1", "meshexport_queue_length 0",
                             "meshexport_export_duration_seconds_count 1"})
    EXPECT_NE(m->body.find(needle), std::string::npos) << needle << "\n" << m->body;
}

} // namespace
} // namespace mx::test
