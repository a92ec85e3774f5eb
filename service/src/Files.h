#pragma once
// File helpers of the service: reading, gzip, content types and safe paths under an export.
#include <filesystem>
#include <optional>
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

/// `root / rel` as a canonical path when it is a regular file inside `root` (no link or `..` leads
/// out of it); nullopt otherwise.
std::optional<std::filesystem::path> regularFileUnder(const std::filesystem::path& root, const std::string& rel);

/// A file's ETag: "SIZE-MTIME" in hex, quoted, with `suffix` (e.g. "-gzip" for another
/// representation of the same file).
std::string fileETag(const std::filesystem::path& file, std::string_view suffix = "");

/// Whether an If-None-Match header value names `etag` (or is "*").
bool etagMatches(const std::string& ifNoneMatch, const std::string& etag);

} // namespace mx::service
