#include "Files.h"
#include "HttpErrors.h"
#include "Routes.h"

#include <mx/service/DataDir.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace mx::service {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Status;
using nlohmann::json;

namespace {

json imodelJson(const ImodelEntry& e) {
  json j = {{"id", e.iModelId},
            {"displayName", e.name},
            {"changesetId", e.changesetId},
            {"changesetIndex", std::to_string(e.changesetIndex)},
            {"size", e.size}};
  if (!e.iTwinId.empty()) j["iTwinId"] = e.iTwinId;
  return j;
}

} // namespace

void Routes::serveTile(const httplib::Request& req, httplib::Response& res) {
  const std::string id = lowerAscii(req.matches[1].str()), rel = req.matches[2];
  const LinkCheck check = verifyMeshLink(secret, id, req.get_param_value("exp"), req.get_param_value("sig"), unixNow());
  if (check != LinkCheck::Ok) {
    const char* why = check == LinkCheck::Missing     ? "The link has no signature (exp and sig)."
                      : check == LinkCheck::Expired   ? "The link has expired; get a fresh one from the export."
                      : check == LinkCheck::Malformed ? "The link's signature is malformed."
                                                      : "The link's signature is not valid for this export.";
    return sendError(res, check == LinkCheck::Expired ? ApiError::LinkExpired : ApiError::InvalidSignature, why);
  }
  if (!safeRelativePath(rel))
    return sendError(res, ApiError::FileNotFound, "The requested file is not part of this export.");
  auto r = jobs.get(id);
  if (!r && store.lastCallUnreachable()) return storeUnreachable(res);
  if (!r || r->status != ExportStatus::Complete)
    return sendError(res, ApiError::ExportNotFound, "Requested export is not available.");
  const std::optional<fs::path> file = regularFileUnder(config.dataDir / "exports" / id, rel);
  if (!file) return sendError(res, ApiError::FileNotFound, "The requested file is not part of this export.");
  const std::string type = contentTypeFor(*file);
  // gzip and identity are two representations with two ETags, chosen by the request alone: a
  // client that accepts gzip (and asks no range) gets the gzip one: JSON and text gzipped by
  // httplib, binary tiles here (sent as they are when gzip would not make them smaller).
  const bool binary = type != "application/json" && type.rfind("text/", 0) != 0;
  const bool gzipVariant =
      !req.has_header("Range") && req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos;
  const std::string etag = fileETag(*file, gzipVariant ? "-gzip" : "");
  res.set_header("ETag", etag);
  res.set_header("Vary", "Accept-Encoding");
  res.set_header("Cache-Control", "private, max-age=3600");
  res.set_header("Accept-Ranges", "bytes");
  if (etagMatches(req.get_header_value("If-None-Match"), etag)) {
    res.status = 304;
    return;
  }
  std::string content;
  if (!readFile(*file, content)) return sendError(res, ApiError::InternalServerError, "Cannot read the file.");
  if (binary && gzipVariant) {
    std::string packed;
    if (gzipString(content, packed, 6) && packed.size() < content.size()) {
      res.set_header("Content-Encoding", "gzip");
      content = std::move(packed);
    }
  }
  res.set_content(std::move(content), type.c_str());
  res.status = -1; // lets httplib answer a Range with 206
}

void Routes::uploadImodel(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
  // Authenticated and within the limit before a byte of the body is read.
  auto who = authorize(req, res, Access::Modify);
  if (!who) return res.set_header("Connection", "close");
  if (declaredLength(req) > config.maxUploadBytes) return payloadTooLarge(res, config.maxUploadBytes);
  const std::string iTwinId = req.get_param_value("iTwinId");
  if (req.has_param("iTwinId") && !normalizeITwinId(iTwinId)) {
    res.set_header("Connection", "close");
    return sendError(res, ApiError::InvalidIModel, "Cannot add the iModel.",
                     {{"InvalidParameter", "iTwinId must be 1 to 64 letters, digits and '-'.", "iTwinId"}});
  }
  std::error_code ec;
  fs::create_directories(imodels.dir(), ec);
  const fs::path temp = imodels.dir() / (".upload-" + randomHex(8) + ".tmp");
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const Status failed = statusFromErrno(errno, "upload: cannot create " + temp.string());
    spdlog::error("{}", failed.message());
    res.set_header("Connection", "close");
    return sendStatusError(res, failed, "The iModel was not added.");
  }
  // Streamed to disk as it arrives; never held in memory whole.
  int64_t total = 0;
  bool over = false;
  int writeError = 0;
  const bool complete = reader([&](const char* data, size_t len) {
    total += int64_t(len);
    if (total > config.maxUploadBytes) return !(over = true);
    while (len > 0) {
      const ssize_t n = ::write(fd, data, len);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return !(writeError = n < 0 ? errno : EIO);
      data += n;
      len -= size_t(n);
    }
    return true;
  });
  if (!writeError && ::fsync(fd) != 0) writeError = errno;
  ::close(fd);
  auto discard = [&] { fs::remove(temp, ec); };
  if (over) return discard(), payloadTooLarge(res, config.maxUploadBytes);
  if (writeError) {
    discard();
    const Status failed = statusFromErrno(writeError, "upload by " + who->subject + ": write failed");
    spdlog::error("{}", failed.message());
    res.set_header("Connection", "close");
    return sendStatusError(res, failed, "The iModel was not added.");
  }
  if (!complete)
    return discard(), sendError(res, ApiError::BadRequest, "The upload ended before its body was complete.");
  auto added = imodels.add(temp, true, uploadScope(*who), iTwinId);
  discard();
  if (!added) {
    const Status& st = added.status();
    spdlog::warn("upload by {} refused: {}", who->subject, st.message());
    if (st.code() == ErrorCode::StorageFull || st.code() == ErrorCode::Unavailable || st.code() == ErrorCode::IoError)
      return sendStatusError(res, st, "The iModel was not added.");
    if (st.code() == ErrorCode::AlreadyExists) {
      const bool iTwin = st.message().find("registered with iTwin") != std::string::npos;
      return sendError(
          res, ApiError::IModelChangesetExists, "Cannot add the iModel.",
          {{iTwin ? "ITwinMismatch" : "ChangesetExists", redactPaths(st.message()), iTwin ? "iTwinId" : "body"}});
    }
    std::string why = st.message();
    for (size_t p; (p = why.find(temp.string())) != std::string::npos;)
      why.replace(p, temp.string().size(), "the upload");
    return sendError(res, ApiError::InvalidIModel, "Cannot add the iModel.",
                     {{"InvalidRequestBody", "The upload is not a readable iModel: " + redactPaths(why), "body"}});
  }
  spdlog::info("iModel {} changeset {} ({}) uploaded by {}", added->iModelId, added->changesetIndex, added->name,
               who->subject);
  sendJson(res, 201, {{"iModel", imodelJson(*added)}});
}

/// Where a subject's uploads go: its own scope, or the shared one when the operator says so.
std::string Routes::uploadScope(const Principal& who) const {
  return config.imodelUploadScope == "shared" ? std::string() : ImodelStore::ownerKey(who.subject);
}

void Routes::listImodels(const httplib::Request& req, httplib::Response& res) {
  auto who = authorize(req, res, Access::Read);
  if (!who) return;
  json list = json::array();
  for (const auto& e : imodels.list(ImodelStore::ownerKey(who->subject))) list.push_back(imodelJson(e));
  sendJson(res, 200, {{"iModels", std::move(list)}});
}

} // namespace mx::service
