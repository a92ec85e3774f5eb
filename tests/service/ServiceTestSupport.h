#pragma once
// Helpers of the service suites: a service on an ephemeral loopback port over a temporary data
// folder, an HTTP client, and real RS256/ES256 JWTs signed with OpenSSL keys made per test run.
#include <mx/service/Auth.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/Service.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>

namespace mx::test {

namespace fs = std::filesystem;
using nlohmann::json;

inline fs::path sourceDir() { return MESHEXPORT_SOURCE_DIR; }
inline fs::path fixture(const char* name) { return sourceDir() / "datasets/imodel/fixtures" / name; }

inline fs::path freshDir(const std::string& name) {
  const char* base = std::getenv("MESHEXPORT_TEST_TMP");
  fs::path dir = fs::path(base ? base : "/tmp") / ("service-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline std::string bnToBytes(const BIGNUM* bn, int width = 0) {
  std::string out(size_t(width ? width : BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), int(out.size()));
  return out;
}

/// A signing key pair and its JWK.
class TestKey {
public:
  static TestKey rsa(const std::string& kid) {
    TestKey k;
    k._kid = kid;
    k._alg = "RS256";
    k._key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t(2048));
    BIGNUM *n = nullptr, *e = nullptr;
    EVP_PKEY_get_bn_param(k._key, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(k._key, OSSL_PKEY_PARAM_RSA_E, &e);
    k._jwk = {{"kty", "RSA"},
              {"kid", kid},
              {"alg", "RS256"},
              {"use", "sig"},
              {"n", service::base64UrlEncode(bnToBytes(n))},
              {"e", service::base64UrlEncode(bnToBytes(e))}};
    BN_free(n);
    BN_free(e);
    return k;
  }
  static TestKey ec(const std::string& kid) {
    TestKey k;
    k._kid = kid;
    k._alg = "ES256";
    k._key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    unsigned char pub[65];
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(k._key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &len);
    const std::string point(reinterpret_cast<char*>(pub), len);
    k._jwk = {{"kty", "EC"},
              {"kid", kid},
              {"crv", "P-256"},
              {"alg", "ES256"},
              {"x", service::base64UrlEncode(point.substr(1, 32))},
              {"y", service::base64UrlEncode(point.substr(33, 32))}};
    return k;
  }
  TestKey(TestKey&& o) noexcept
      : _key(std::exchange(o._key, nullptr)), _jwk(std::move(o._jwk)), _kid(o._kid), _alg(o._alg) {}
  ~TestKey() { EVP_PKEY_free(_key); }
  const json& jwk() const { return _jwk; }

  /// A compact JWS over `claims`; `headerOverride` replaces header fields.
  std::string sign(const json& claims, const json& headerOverride = json::object()) const {
    json header = {{"alg", _alg}, {"typ", "JWT"}, {"kid", _kid}};
    header.update(headerOverride);
    const std::string signingInput =
        service::base64UrlEncode(header.dump()) + "." + service::base64UrlEncode(claims.dump());
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, _key);
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(signingInput.data()),
                   signingInput.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (_alg == "ES256") { // DER → r||s
      const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, long(sig.size()));
      sig = bnToBytes(ECDSA_SIG_get0_r(s), 32) + bnToBytes(ECDSA_SIG_get0_s(s), 32);
      ECDSA_SIG_free(s);
    }
    return signingInput + "." + service::base64UrlEncode(sig);
  }

private:
  TestKey() = default;
  EVP_PKEY* _key = nullptr;
  json _jwk;
  std::string _kid, _alg;
};

inline constexpr const char* kIssuer = "https://ims.test.example";
inline constexpr const char* kAudience = "itwin-platform";
inline constexpr const char* kDevToken = "dev-token-0123456789abcdef";
inline constexpr const char* kOtherToken = "other-token-0123456789abcdef";
inline constexpr const char* kSecret = "test-signing-secret-0123456789abcdef";

inline json claimsFor(const std::string& subject, int64_t expiresIn = 600) {
  const int64_t now = unixNow();
  return {{"iss", kIssuer}, {"aud", kAudience}, {"sub", subject},        {"scope", "openid itwin-platform"},
          {"iat", now},     {"nbf", now - 5},   {"exp", now + expiresIn}};
}

/// A shell script that waits, then runs the real tiler: makes exports last long enough to be
/// killed, cancelled or interrupted.
inline fs::path slowTiler(const fs::path& dir, double seconds) {
  const fs::path p = dir / "slow-tiler.sh";
  std::ofstream out(p);
  out << "#!/bin/sh\nsleep " << seconds << "\nexec '" << MESHEXPORT_BINARY << "' \"$@\"\n";
  out.close();
  fs::permissions(p, fs::perms::owner_all);
  return p;
}

/// A running service over its own data folder.
class TestService {
public:
  explicit TestService(const fs::path& dataDir, const std::function<void(service::ServiceConfig&)>& tune = {}) {
    config.dataDir = dataDir;
    config.port = 0;
    config.tilerPath = MESHEXPORT_BINARY;
    config.signingSecret = kSecret;
    config.devTokens = {{kDevToken, "dev"}, {kOtherToken, "other"}};
    config.issuer = kIssuer;
    config.audience = kAudience;
    config.workers = 2;
    config.shutdownGraceSeconds = 0;
    config.rateLimitPerSecond = 0;
    if (tune) tune(config);
    auto s = service::Service::create(config);
    if (!s) throw std::runtime_error(s.status().toString());
    svc = std::move(*s);
    auto st = svc->start();
    if (!st) throw std::runtime_error(st.toString());
  }
  ~TestService() { svc->stop(); }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", svc->port());
    c.set_connection_timeout(5);
    c.set_read_timeout(30);
    return c;
  }
  static httplib::Headers auth(const std::string& token = kDevToken, httplib::Headers more = {}) {
    more.emplace("Authorization", "Bearer " + token);
    more.emplace("Accept", "application/vnd.bentley.itwin-platform.v1+json");
    return more;
  }
  httplib::Result post(const json& body, const std::string& token = kDevToken) const {
    return client().Post("/mesh-export/", auth(token), body.dump(), "application/json");
  }
  json getExport(const std::string& id, const std::string& token = kDevToken) const {
    auto r = client().Get("/mesh-export/" + id, auth(token));
    if (!r || r->status != 200) return json();
    return json::parse(r->body)["export"];
  }
  /// Polls until the export leaves NotStarted/InProgress (or `timeout`).
  json waitDone(const std::string& id, int timeoutSeconds = 120) const {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
    while (std::chrono::steady_clock::now() < end) {
      json e = getExport(id);
      if (e.is_object() && (e["status"] == "Complete" || e["status"] == "Invalid")) return e;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return getExport(id);
  }
  bool waitStatus(const std::string& id, const std::string& status, int timeoutSeconds = 60) const {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
    while (std::chrono::steady_clock::now() < end) {
      json e = getExport(id);
      if (e.is_object() && e["status"] == status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  service::ServiceConfig config;
  std::unique_ptr<service::Service> svc;
};

/// A response body as JSON (discarded when it is not JSON, null when there was no response).
inline json body(const httplib::Result& r) { return r ? json::parse(r->body, nullptr, false) : json(); }

/// Registers a fixture iModel in a data folder's shared scope; returns its id.
inline std::string addImodel(const fs::path& dir, const char* name = "small.bim") {
  service::ImodelStore store(dir / "imodels");
  return store.add(fixture(name), false)->iModelId;
}

/// Starts an export (202 expected) and returns its id ("" otherwise).
inline std::string startExport(const TestService& s, const std::string& imodel, const json& extra = json::object(),
                               const std::string& token = kDevToken) {
  json b = {{"iModelId", imodel}};
  b.update(extra);
  auto r = s.post(b, token);
  EXPECT_TRUE(r && r->status == 202) << (r ? r->body : "no response");
  return r && r->status == 202 ? body(r)["export"]["id"].get<std::string>() : "";
}

/// Splits a mesh href into path and query, as clients do.
inline std::pair<std::string, std::string> splitHref(const std::string& href) {
  const auto q = href.find('?');
  std::string path = href.substr(0, q);
  const auto scheme = path.find("://");
  path = path.substr(path.find('/', scheme + 3));
  return {path, q == std::string::npos ? "" : href.substr(q + 1)};
}

/// A data folder with small.bim (and optionally more) registered; returns the iModel ids.
struct Data {
  fs::path dir;
  std::string small, demo;
};

inline Data makeData(const std::string& name, bool withDemo = false) {
  Data d;
  d.dir = freshDir(name);
  service::ImodelStore store(d.dir / "imodels");
  d.small = store.add(fixture("small.bim"), false)->iModelId;
  if (withDemo) d.demo = store.add(fixture("demo.bim"), false)->iModelId;
  return d;
}

inline void expectJsonError(const httplib::Result& r, int status, const std::string& code) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("application/json", 0), 0u);
  const json j = body(r);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
  EXPECT_EQ(j["error"]["code"], code) << r->body;
  EXPECT_TRUE(j["error"]["message"].is_string());
}

} // namespace mx::test
