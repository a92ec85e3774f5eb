#include <mx/service/Auth.h>

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <charconv>
#include <fstream>
#include <map>

namespace mx::service {

using core::ErrorCode;
using core::Status;

// ---- encodings -----------------------------------------------------------------------------------

std::string base64UrlEncode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (i + 1 < bytes.size()) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool base64UrlDecode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return false;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xFF);
    }
  }
  return true;
}

std::string hmacSha256Hex(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string randomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), int(bytes)) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : raw) {
    out += kHex[uint8_t(c) >> 4];
    out += kHex[uint8_t(c) & 15];
  }
  return out;
}

std::string signMeshLink(std::string_view secret, std::string_view exportId, int64_t expires) {
  return hmacSha256Hex(secret, "mesh-export:" + std::string(exportId) + ":" + std::to_string(expires));
}

LinkCheck verifyMeshLink(std::string_view secret, std::string_view exportId, std::string_view expires,
                         std::string_view signature, int64_t now) {
  if (expires.empty() || signature.empty()) return LinkCheck::Missing;
  int64_t exp = 0;
  auto [p, ec] = std::from_chars(expires.data(), expires.data() + expires.size(), exp);
  if (ec != std::errc() || p != expires.data() + expires.size() || signature.size() != 64) return LinkCheck::Malformed;
  // The MAC is checked before the expiry so a forged link never learns whether its time was right.
  if (!constantTimeEquals(signMeshLink(secret, exportId, exp), signature)) return LinkCheck::BadSignature;
  if (exp < now) return LinkCheck::Expired;
  return LinkCheck::Ok;
}

// ---- JWKS and JWT --------------------------------------------------------------------------------

namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::shared_ptr<EVP_PKEY>;

struct Jwk {
  std::string kid, kty;
  Pkey key;
};

Pkey pkeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1) EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return Pkey(pkey, PkeyDeleter());
}

Pkey rsaKey(const std::string& n, const std::string& e) {
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), int(n.size()), nullptr);
  BIGNUM* be = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), int(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  Pkey key;
  if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
    key = pkeyFromParams("RSA", bld);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn);
  BN_free(be);
  return key;
}

Pkey ecKey(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) return {};
  std::string point = "\x04" + x + y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  Pkey key;
  if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1)
    key = pkeyFromParams("EC", bld);
  OSSL_PARAM_BLD_free(bld);
  return key;
}

bool verifySignature(EVP_PKEY* key, std::string_view data, const std::string& sig) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                   reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

/// JWS ES256 signatures are r||s (64 bytes); OpenSSL verifies DER.
bool rawEcdsaToDer(const std::string& raw, std::string& der) {
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* out = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &out);
  ECDSA_SIG_free(sig);
  if (len <= 0) return false;
  der.assign(reinterpret_cast<char*>(out), size_t(len));
  OPENSSL_free(out);
  return true;
}

bool hasScope(const nlohmann::json& claims, Access access) {
  std::vector<std::string> scopes;
  for (const char* name : {"scope", "scp"}) {
    auto it = claims.find(name);
    if (it == claims.end()) continue;
    if (it->is_string()) {
      const std::string s = it->get<std::string>();
      size_t start = 0;
      while (start < s.size()) {
        size_t end = s.find(' ', start);
        if (end == std::string::npos) end = s.size();
        if (end > start) scopes.push_back(s.substr(start, end - start));
        start = end + 1;
      }
    } else if (it->is_array()) {
      for (const auto& v : *it)
        if (v.is_string()) scopes.push_back(v.get<std::string>());
    }
  }
  for (const auto& s : scopes)
    if (s == "itwin-platform" || (access == Access::Read && s == "mesh-export:read") ||
        (access == Access::Modify && s == "mesh-export:modify"))
      return true;
  return false;
}

} // namespace

struct Authenticator::Impl {
  std::vector<Jwk> keys;
  std::string issuer, audience;
  int64_t leeway = 60;
  std::map<std::string, std::string, std::less<>> devTokens; ///< token → subject

  /// A JWT's claims when its signature verifies with a configured key: "" or why not.
  [[nodiscard]] std::string verifiedClaims(std::string_view token, nlohmann::json& claims) const;
  /// exp, nbf, iss, aud, scope and sub of verified claims: "" or why not.
  [[nodiscard]] std::string checkClaims(const nlohmann::json& claims, Access access, int64_t now) const;
};

Authenticator::Authenticator() : _impl(std::make_unique<Impl>()) {}
Authenticator::Authenticator(Authenticator&&) noexcept = default;
Authenticator& Authenticator::operator=(Authenticator&&) noexcept = default;
Authenticator::~Authenticator() = default;
size_t Authenticator::keyCount() const { return _impl->keys.size(); }

core::Result<Authenticator> Authenticator::create(const ServiceConfig& config) {
  Authenticator a;
  a._impl->issuer = config.issuer;
  a._impl->audience = config.audience;
  a._impl->leeway = config.leewaySeconds;
  for (const auto& t : config.devTokens) a._impl->devTokens[t.token] = t.subject;
  if (config.jwksFile.empty()) return a;
  std::ifstream in(config.jwksFile);
  if (!in) return Status{ErrorCode::IoError, "cannot read JWKS file " + config.jwksFile.string()};
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("keys") || !j["keys"].is_array())
    return Status{ErrorCode::InvalidArgument, config.jwksFile.string() + ": not a JWKS ({\"keys\": [...]})"};
  for (const auto& k : j["keys"]) {
    auto str = [&](const char* name) {
      auto it = k.find(name);
      return it != k.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    Jwk jwk{str("kid"), str("kty"), {}};
    std::string a1, a2;
    if (jwk.kty == "RSA" && base64UrlDecode(str("n"), a1) && base64UrlDecode(str("e"), a2) && !a1.empty() &&
        !a2.empty())
      jwk.key = rsaKey(a1, a2);
    else if (jwk.kty == "EC" && str("crv") == "P-256" && base64UrlDecode(str("x"), a1) && base64UrlDecode(str("y"), a2))
      jwk.key = ecKey(a1, a2);
    if (!jwk.key)
      return Status{ErrorCode::InvalidArgument,
                    config.jwksFile.string() + ": key \"" + jwk.kid + "\" is not a usable RSA or P-256 public key"};
    a._impl->keys.push_back(std::move(jwk));
  }
  return a;
}

std::string Authenticator::Impl::verifiedClaims(std::string_view token, nlohmann::json& claims) const {
  const size_t d1 = token.find('.'), d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return "The token is neither a configured development token nor a JWT.";
  if (keys.empty()) return "This server accepts no JWTs (no JWKS configured).";
  std::string headerJson, payloadJson, sig;
  if (!base64UrlDecode(token.substr(0, d1), headerJson) ||
      !base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1), payloadJson) || !base64UrlDecode(token.substr(d2 + 1), sig))
    return "The token is not valid base64url.";
  const nlohmann::json h = nlohmann::json::parse(headerJson, nullptr, false);
  claims = nlohmann::json::parse(payloadJson, nullptr, false);
  if (!h.is_object() || !claims.is_object()) return "The token's header or payload is not a JSON object.";
  const std::string alg = h.contains("alg") && h["alg"].is_string() ? h["alg"].get<std::string>() : "";
  const std::string kid = h.contains("kid") && h["kid"].is_string() ? h["kid"].get<std::string>() : "";
  const char* kty = alg == "RS256" ? "RSA" : alg == "ES256" ? "EC" : nullptr;
  if (!kty) return "Token algorithm \"" + alg + "\" is not accepted (RS256, ES256).";
  if (alg == "ES256") {
    std::string der;
    if (!rawEcdsaToDer(sig, der)) return "The ES256 signature is not 64 bytes.";
    sig = std::move(der);
  }
  const std::string_view signedPart = token.substr(0, d2);
  bool verified = false, keyFound = false;
  for (const auto& k : keys) {
    if (k.kty != kty || (!kid.empty() && k.kid != kid)) continue;
    keyFound = true;
    if (verifySignature(k.key.get(), signedPart, sig)) {
      verified = true;
      break;
    }
  }
  if (!keyFound) return "No signing key \"" + kid + "\" for " + alg + ".";
  if (!verified) return "The token signature is invalid.";
  return "";
}

std::string Authenticator::Impl::checkClaims(const nlohmann::json& claims, Access access, int64_t now) const {
  auto number = [&](const char* name, int64_t& out) {
    auto it = claims.find(name);
    if (it == claims.end()) return false;
    if (!it->is_number()) return false;
    out = it->is_number_integer() ? it->get<int64_t>() : int64_t(it->get<double>());
    return true;
  };
  int64_t exp = 0, nbf = 0;
  if (!number("exp", exp)) return "The token has no expiry (exp).";
  if (now > exp + leeway) return "The token has expired.";
  if (number("nbf", nbf) && now + leeway < nbf) return "The token is not valid yet (nbf).";
  if (!issuer.empty()) {
    auto it = claims.find("iss");
    if (it == claims.end() || !it->is_string() || it->get<std::string>() != issuer)
      return "The token was issued by the wrong issuer.";
  }
  if (!audience.empty()) {
    bool found = false;
    if (auto it = claims.find("aud"); it != claims.end()) {
      if (it->is_string())
        found = it->get<std::string>() == audience;
      else if (it->is_array())
        for (const auto& a : *it) found = found || (a.is_string() && a.get<std::string>() == audience);
    }
    if (!found) return "The token is not meant for this audience.";
  }
  if (!hasScope(claims, access)) return "The token lacks the itwin-platform scope.";
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string() || sub->get<std::string>().empty())
    return "The token has no subject (sub).";
  return "";
}

bool Authenticator::authenticate(std::string_view header, Access access, int64_t now, Principal& who,
                                 AuthFailure& why) const {
  auto fail = [&](std::string message) {
    why = {"InvalidAuthorizationToken", std::move(message)};
    return false;
  };
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  if (header.empty()) {
    why = {"HeaderNotFound", "Header Authorization was not found in the request. Access denied."};
    return false;
  }
  auto startsWithCi = [](std::string_view s, std::string_view p) {
    if (s.size() < p.size()) return false;
    for (size_t i = 0; i < p.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(s[i])) != p[i]) return false;
    return true;
  };
  if (!startsWithCi(header, "bearer ")) return fail("Only Bearer tokens are accepted (share keys are not supported).");
  std::string_view token = header.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return fail("The Bearer token is empty.");
  if (auto it = _impl->devTokens.find(token); it != _impl->devTokens.end()) {
    who.subject = devSubject(it->second);
    return true;
  }
  nlohmann::json claims;
  if (std::string bad = _impl->verifiedClaims(token, claims); !bad.empty()) return fail(std::move(bad));
  if (std::string bad = _impl->checkClaims(claims, access, now); !bad.empty()) return fail(std::move(bad));
  const auto iss = claims.find("iss");
  who.subject = jwtSubject(iss != claims.end() && iss->is_string() ? iss->get<std::string>() : std::string(),
                           claims["sub"].get<std::string>());
  return true;
}

std::string devSubject(const std::string& name) { return "dev:" + name; }

std::string jwtSubject(const std::string& issuer, const std::string& sub) {
  return "jwt:" + std::to_string(issuer.size()) + ":" + issuer + sub;
}

} // namespace mx::service
