// The service's gates over real HTTP on a loopback port: bearer tokens (development, JWT with
// JWKS) and subjects, the rate limit, job store migrations, and configuration sources.
#include "ServiceTestSupport.h"

#include <mx/service/Config.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>
#include <mx/service/SqliteJobStore.h>

#include <sqlite3.h>

#include <set>

namespace mx::test {
namespace {

class ServiceAuth : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    rsa = std::make_unique<TestKey>(TestKey::rsa("rsa-1"));
    ecKey = std::make_unique<TestKey>(TestKey::ec("ec-1"));
    other = std::make_unique<TestKey>(TestKey::rsa("rsa-1")); // same kid, not in the JWKS
  }
  static void TearDownTestSuite() {
    rsa.reset();
    ecKey.reset();
    other.reset();
  }
  static std::unique_ptr<TestKey> rsa, ecKey, other;
};
std::unique_ptr<TestKey> ServiceAuth::rsa, ServiceAuth::ecKey, ServiceAuth::other;

TEST_F(ServiceAuth, TokensAreCheckedAndSubjectsSeparated) {
  Data d = makeData("auth");
  const fs::path jwks = d.dir / "jwks.json";
  std::ofstream(jwks) << json{{"keys", json::array({rsa->jwk(), ecKey->jwk()})}}.dump();
  TestService s(d.dir, [&](service::ServiceConfig& c) { c.jwksFile = jwks; });
  auto c = s.client();

  // No header: exactly the documented body.
  auto none = c.Get("/mesh-export/");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(
      body(none),
      json::parse(
          R"({"error":{"code":"HeaderNotFound","message":"Header Authorization was not found in the request. Access denied."}})"));
  expectJsonError(c.Post("/mesh-export/", "{}", "application/json"), 401, "HeaderNotFound");
  expectJsonError(c.Delete("/mesh-export/x"), 401, "HeaderNotFound");

  auto get = [&](const std::string& header) { return c.Get("/mesh-export/", {{"Authorization", header}}); };
  const int64_t now = unixNow();
  json expired = claimsFor("alice"), early = claimsFor("alice"), wrongIss = claimsFor("alice"),
       wrongAud = claimsFor("alice"), noScope = claimsFor("alice"), noExp = claimsFor("alice"),
       noSub = claimsFor("alice");
  expired["exp"] = now - 600;
  early["nbf"] = now + 600;
  wrongIss["iss"] = "https://evil.example";
  wrongAud["aud"] = "something-else";
  noScope["scope"] = "openid profile";
  noExp.erase("exp");
  noSub.erase("sub");
  std::string tampered = rsa->sign(claimsFor("alice"));
  {
    json forged = claimsFor("mallory");
    const auto d1 = tampered.find('.'), d2 = tampered.rfind('.');
    tampered = tampered.substr(0, d1 + 1) + service::base64UrlEncode(forged.dump()) + tampered.substr(d2);
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"basic", "Basic c2hhcmU6a2V5"},
      {"empty bearer", "Bearer "},
      {"garbage", "Bearer not-a-token"},
      {"expired", "Bearer " + rsa->sign(expired)},
      {"not yet valid", "Bearer " + rsa->sign(early)},
      {"wrong issuer", "Bearer " + rsa->sign(wrongIss)},
      {"wrong audience", "Bearer " + rsa->sign(wrongAud)},
      {"no scope", "Bearer " + rsa->sign(noScope)},
      {"no exp", "Bearer " + rsa->sign(noExp)},
      {"no sub", "Bearer " + rsa->sign(noSub)},
      {"tampered payload", "Bearer " + tampered},
      {"unknown signer", "Bearer " + other->sign(claimsFor("alice"))},
      {"unknown kid", "Bearer " + rsa->sign(claimsFor("alice"), {{"kid", "nope"}})},
      {"alg none", "Bearer " + service::base64UrlEncode(R"({"alg":"none"})") + "." +
                       service::base64UrlEncode(claimsFor("alice").dump()) + "."},
      {"alg HS256", "Bearer " + rsa->sign(claimsFor("alice"), {{"alg", "HS256"}})},
  };
  for (const auto& [name, header] : bad) {
    SCOPED_TRACE(name);
    auto r = get(header);
    expectJsonError(r, 401, "InvalidAuthorizationToken");
    // Older CesiumJS reads error.details[0].code on a 401.
    EXPECT_EQ(body(r)["error"]["details"][0]["code"], "InvalidAuthorizationToken");
  }
  // Valid RS256 and ES256 tokens, a leeway-covered expiry, and the older scopes.
  json leeway = claimsFor("alice");
  leeway["exp"] = now - 10;
  json readOnly = claimsFor("alice");
  readOnly["scope"] = "mesh-export:read";
  json aud = claimsFor("alice");
  aud["aud"] = json::array({"other", kAudience});
  for (const std::string& token : {rsa->sign(claimsFor("alice")), ecKey->sign(claimsFor("alice")), rsa->sign(leeway),
                                   rsa->sign(readOnly), rsa->sign(aud)}) {
    auto r = get("Bearer " + token);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  // mesh-export:read cannot start exports; "bearer" is case-insensitive.
  auto readPost = c.Post("/mesh-export/", {{"Authorization", "bearer " + rsa->sign(readOnly)}},
                         json{{"iModelId", d.small}}.dump(), "application/json");
  expectJsonError(readPost, 401, "InvalidAuthorizationToken");

  // alice's export is hers alone.
  auto started = c.Post("/mesh-export/", {{"Authorization", "Bearer " + ecKey->sign(claimsFor("alice"))}},
                        json{{"iModelId", d.small}}.dump(), "application/json");
  ASSERT_EQ(started->status, 202) << started->body;
  const std::string id = body(started)["export"]["id"];
  const std::string bob = "Bearer " + rsa->sign(claimsFor("bob"));
  expectJsonError(c.Get("/mesh-export/" + id, {{"Authorization", bob}}), 404, "ExportNotFound");
  expectJsonError(c.Delete("/mesh-export/" + id, {{"Authorization", bob}}), 404, "ExportNotFound");
  EXPECT_TRUE(body(c.Get("/mesh-export/?iModelId=" + d.small, {{"Authorization", bob}}))["exports"].empty());
  auto mine = c.Get("/mesh-export/" + id, {{"Authorization", "Bearer " + rsa->sign(claimsFor("alice"))}});
  EXPECT_EQ(mine->status, 200);
}

TEST(ServiceApi, BadJwksIsAStartError) {
  Data d = makeData("badjwks");
  service::ServiceConfig c;
  c.dataDir = d.dir;
  c.port = 0;
  c.jwksFile = d.dir / "missing.json";
  EXPECT_FALSE(service::Service::create(c));
  std::ofstream(d.dir / "bad.json") << R"({"keys":[{"kty":"RSA","kid":"k","n":"AQAB"}]})";
  c.jwksFile = d.dir / "bad.json";
  auto s = service::Service::create(c);
  ASSERT_FALSE(s);
  EXPECT_NE(s.status().message().find("not a usable"), std::string::npos);
}

TEST(ServiceApi, RateLimitPerSubject) {
  Data d = makeData("ratelimit");
  TestService s(d.dir, [](service::ServiceConfig& c) {
    c.rateLimitPerSecond = 0.5;
    c.rateLimitBurst = 3;
  });
  auto c = s.client();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.Get("/mesh-export/", TestService::auth())->status, 200);
  auto limited = c.Get("/mesh-export/", TestService::auth());
  expectJsonError(limited, 429, "RateLimitExceeded");
  const int retry = std::stoi(limited->get_header_value("Retry-After"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 2);
  expectJsonError(s.post({{"iModelId", d.small}}), 429, "RateLimitExceeded");
  // Another subject has its own bucket; unauthenticated calls are 401, not 429.
  EXPECT_EQ(c.Get("/mesh-export/", TestService::auth(kOtherToken))->status, 200);
  EXPECT_EQ(c.Get("/mesh-export/")->status, 401);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(c.Get("/mesh-export/", TestService::auth())->status, 200);
}

TEST(ServiceStore, MigratesAnOlderStoreAndRefusesANewerOne) {
  const fs::path dir = freshDir("migrate");
  const fs::path db = dir / "jobs.db";
  {
    // A store as the first release wrote it (schema version 1), with one Complete export.
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    const char* v1 = R"(PRAGMA journal_mode=WAL;
      CREATE TABLE exports (id TEXT PRIMARY KEY, subject TEXT NOT NULL, imodel_id TEXT NOT NULL,
        changeset_id TEXT NOT NULL, changeset_index INTEGER NOT NULL, export_type TEXT NOT NULL,
        type_class TEXT NOT NULL, tiler_config TEXT NOT NULL, display_name TEXT NOT NULL, status TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '', stats TEXT NOT NULL DEFAULT '', imodel_path TEXT NOT NULL,
        created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL);
      INSERT INTO exports VALUES ('e1', 'dev', 'm', '', 0, '3DTiles', '3DTILES', '', 'name', 'Complete', '', '{}', '/x.bim', 1, 2);
      PRAGMA user_version = 1;)";
    ASSERT_EQ(sqlite3_exec(h, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
    sqlite3_close(h);
  }
  {
    auto store = service::SqliteJobStore::open(db, service::SqliteJobStore::Create::Never);
    ASSERT_TRUE(store) << store.status().toString();
    EXPECT_EQ((*store)->version(), 4);
    auto r = (*store)->get("e1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, service::ExportStatus::Complete);
    EXPECT_EQ(r->tileMajor, 0);
  }
  {
    sqlite3* h = nullptr;
    sqlite3_open(db.c_str(), &h);
    sqlite3_exec(h, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  auto newer = service::SqliteJobStore::open(db, service::SqliteJobStore::Create::Never);
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.status().message().find("newer than this meshexport"), std::string::npos);
}

TEST(ServiceConfig, FileEnvironmentAndFlags) {
  const fs::path dir = freshDir("config");
  std::ofstream(dir / "c.json") << R"({"port": 9000, "workers": 3, "autoGenerate": false, "rateLimitPerSecond": 2.5,
    "devTokens": [{"token": "file-token-0123456789", "subject": "ci"}]})";
  service::ServiceConfig c;
  ASSERT_TRUE(service::loadConfigFlags(c, {"--config", (dir / "c.json").string(), "--workers", "4"}));
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.workers, 4); // flags win over the file
  EXPECT_FALSE(c.autoGenerate);
  EXPECT_DOUBLE_EQ(c.rateLimitPerSecond, 2.5);
  ASSERT_EQ(c.devTokens.size(), 1u);
  EXPECT_EQ(c.devTokens[0].subject, "ci");
  ::setenv("MESHEXPORT_LINK_LIFETIME_SECONDS", "120", 1);
  ::setenv("MESHEXPORT_DEV_TOKEN", "env-token-0123456789", 1);
  ASSERT_TRUE(service::loadConfigEnvironment(c));
  ::unsetenv("MESHEXPORT_LINK_LIFETIME_SECONDS");
  ::unsetenv("MESHEXPORT_DEV_TOKEN");
  EXPECT_EQ(c.linkLifetimeSeconds, 120);
  EXPECT_EQ(c.devTokens.size(), 2u);
  EXPECT_FALSE(service::loadConfigFlags(c, {"--port", "70000"}));
  EXPECT_FALSE(service::loadConfigFlags(c, {"--nope", "1"}));
  EXPECT_FALSE(service::loadConfigFlags(c, {"--workers"}));
  EXPECT_FALSE(service::setConfigValue(c, "devToken", "short"));
  std::ofstream(dir / "bad.json") << R"({"port": "x"})";
  EXPECT_FALSE(service::loadConfigFile(c, dir / "bad.json"));
}

} // namespace
} // namespace mx::test
