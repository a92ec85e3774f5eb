#pragma once
// Who is calling: Bearer JWTs (RS256, ES256) verified against a JWKS with OpenSSL, or static
// development tokens. Also the HMAC-SHA256 signatures of mesh links.
#include <mx/core/Result.h>
#include <mx/service/Config.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mx::service {

struct Principal {
  /// Who, namespaced by where the identity comes from, so that equal names from two issuers are
  /// two subjects: devSubject() for development tokens, jwtSubject() for JWTs.
  std::string subject;
};

/// "dev:NAME": a development token's subject.
std::string devSubject(const std::string& name);
/// "jwt:LEN:ISSsub": a JWT's subject under its issuer (length-prefixed: no two pairs collide).
std::string jwtSubject(const std::string& issuer, const std::string& sub);

/// A 401: code HeaderNotFound (no Authorization header) or InvalidAuthorizationToken.
struct AuthFailure {
  std::string code;
  std::string message;
};

enum class Access { Read, Modify };

class Authenticator {
public:
  /// Loads the JWKS (when configured); a missing or unusable key file is an error.
  static core::Result<Authenticator> create(const ServiceConfig& config);
  Authenticator(Authenticator&&) noexcept;
  Authenticator& operator=(Authenticator&&) noexcept;
  ~Authenticator();

  /// Checks an Authorization header value (empty = absent) at time `now` (Unix seconds).
  /// Scopes: itwin-platform, or mesh-export:read for Read and mesh-export:modify for Modify.
  [[nodiscard]] bool authenticate(std::string_view header, Access access, int64_t now, Principal& who,
                                  AuthFailure& why) const;
  [[nodiscard]] size_t keyCount() const;

private:
  Authenticator();
  struct Impl;
  std::unique_ptr<Impl> _impl;
};

// ---- encodings and MACs shared by tokens and links ----------------------------------------------
std::string base64UrlEncode(std::string_view bytes);
/// False on characters outside the URL-safe alphabet or a bad length.
bool base64UrlDecode(std::string_view text, std::string& out);
std::string hmacSha256Hex(std::string_view key, std::string_view message);
bool constantTimeEquals(std::string_view a, std::string_view b);
/// 32 random bytes as hex (OpenSSL RAND_bytes).
std::string randomHex(size_t bytes = 32);

/// Mesh links: sig = HMAC-SHA256(secret, "mesh-export:" + exportId + ":" + expires).
std::string signMeshLink(std::string_view secret, std::string_view exportId, int64_t expires);
enum class LinkCheck { Ok, Missing, Malformed, Expired, BadSignature };
LinkCheck verifyMeshLink(std::string_view secret, std::string_view exportId, std::string_view expires,
                         std::string_view signature, int64_t now);

} // namespace mx::service
