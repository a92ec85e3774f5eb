#pragma once
// File helpers of the service: reading, gzip, content types and safe paths under an export.
#include <filesystem>
#include <string>
#include <string_view>

namespace mx::service {

/// The whole file; false when it cannot be read.
bool readFile(const std::filesystem::path& p, std::string& out);

/// gzip (RFC 1952) of `in` at zlib `level`; false on failure.
bool gzipString(std::string_view in, std::string& out, int level);

/// The Content-Type of an export's file by extension (octet-stream when unknown).
std::string contentTypeFor(const std::filesystem::path& p);

/// A path under an export folder from a URL path: no empty, "." or ".." segments, no NUL or
/// backslash, no leading slash.
bool safeRelativePath(const std::string& rel);

} // namespace mx::service
