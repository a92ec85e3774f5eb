// Who may touch what, and what errors say (loopback only): uploads and subjects that collide,
// bodies refused before they are read, bytes that are not UTF-8, errors that would name server
// paths. Each test failed before its fix.
#include "HardeningSupport.h"

#include <mx/service/DataDir.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>
#include <mx/service/SqliteJobStore.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <set>

namespace mx::test {
namespace {

// ---- 3. An upload never replaces another subject's iModel ----------------------------------------------

TEST(ServiceHardening, UploadsBelongToTheirUploaderAndChangesetsAreImmutable) {
  const fs::path dir = freshDir("owners");
  TestService s(dir);
  auto c = s.client();
  const std::string bytes = fileBytes(fixture("primitives.bim"));
  auto a = c.Post("/imodels", TestService::auth(kDevToken), bytes, "application/octet-stream");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->status, 201) << a->body;
  const std::string id = body(a)["iModel"]["id"];
  // B does not see A's upload, cannot export it …
  EXPECT_TRUE(body(c.Get("/imodels", TestService::auth(kOtherToken)))["iModels"].empty());
  auto denied = s.post({{"iModelId", id}}, kOtherToken);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 404);
  // … and B's upload of an iModel with the same id and changeset is B's own: A's file stays.
  const fs::path aFile =
      dir / "imodels" / "owners" / service::ImodelStore::ownerKey(service::devSubject("dev")) / (id + "@0.bim");
  ASSERT_TRUE(fs::exists(aFile));
  const auto aTime = fs::last_write_time(aFile);
  const std::string other = fileBytes(sameIModelOtherBytes(dir, "primitives.bim"));
  ASSERT_NE(other, bytes);
  auto b = c.Post("/imodels", TestService::auth(kOtherToken), other, "application/octet-stream");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 201) << b->body;
  EXPECT_EQ(fileBytes(aFile), bytes);
  EXPECT_EQ(fs::last_write_time(aFile), aTime);
  const std::string ea = startExport(s, id), eb = startExport(s, id, json::object(), kOtherToken);
  EXPECT_EQ(s.waitDone(ea)["status"], "Complete");
  // A changeset's bytes never change: A's other bytes under the same name are refused, the same
  // bytes again are fine.
  auto again = c.Post("/imodels", TestService::auth(kDevToken), other, "application/octet-stream");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409) << again->body;
  EXPECT_EQ(fileBytes(aFile), bytes);
  auto same = c.Post("/imodels", TestService::auth(kDevToken), bytes, "application/octet-stream");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 201);
  // The operator's shared folder is immutable too.
  std::string out;
  EXPECT_EQ(runCli("imodels add '" + fixture("small.bim").string() + "' --data-dir '" + dir.string() + "'", &out), 0)
      << out;
  EXPECT_EQ(
      runCli("imodels add '" + sameIModelOtherBytes(dir, "small.bim").string() + "' --data-dir '" + dir.string() + "'",
             &out),
      11)
      << out;
}

// ---- 4. Subjects are namespaced by issuer ----------------------------------------------------------------

TEST(ServiceHardening, EqualSubjectsFromTwoIssuersAreTwoSubjects) {
  const fs::path dir = freshDir("issuers");
  const std::string imodel = addImodel(dir);
  TestKey key = TestKey::rsa("k1");
  const fs::path jwks = dir / "jwks.json";
  std::ofstream(jwks) << json{{"keys", json::array({key.jwk()})}}.dump();
  TestService s(dir, [&](service::ServiceConfig& c) {
    c.jwksFile = jwks;
    c.devTokens = {{kDevToken, "u1"}};
  });
  const std::string mine = startExport(s, imodel);
  ASSERT_FALSE(mine.empty());
  const std::string jwt = key.sign(claimsFor("u1"));
  auto list = body(s.client().Get("/mesh-export/", TestService::auth(jwt)));
  ASSERT_TRUE(list.contains("exports")) << list.dump();
  EXPECT_TRUE(list["exports"].empty()) << list.dump();
  EXPECT_TRUE(s.getExport(mine, jwt).is_null());
  auto del = s.client().Delete("/mesh-export/" + mine, TestService::auth(jwt));
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 404);
  EXPECT_EQ(s.getExport(mine)["id"], mine);
}

TEST(ServiceHardening, ExportsFromBeforeNamespacesKeepTheirOwner) {
  const fs::path dir = freshDir("legacy-subject");
  const std::string id = oneCompleteExport(dir);
  sqlExec(dir / "jobs.db", "UPDATE exports SET subject = 'dev'"); // as an older release wrote it
  TestService s(dir);
  EXPECT_EQ(s.getExport(id)["status"], "Complete");
}

// ---- 6. An upload is authenticated and sized before its body is read ------------------------------------

TEST(ServiceHardening, UploadBodiesAreNotReadBeforeAuthAndSize) {
  const fs::path dir = freshDir("upload-limits");
  TestService s(dir, [](service::ServiceConfig& c) { c.maxUploadBytes = 1 << 20; });
  const std::string huge = "POST /imodels HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                           "Content-Length: 300000000\r\n";
  auto answerFor = [&](const std::string& head) {
    const int fd = connectTo(s.svc->port());
    sendAll(fd, head + "\r\n" + std::string(64 * 1024, 'x'));
    const auto t0 = std::chrono::steady_clock::now();
    std::string got = readUntilClosed(fd, 5000);
    const double ms = msSince(t0);
    ::close(fd);
    EXPECT_LT(ms, 3000) << "the server waited for the body";
    return got;
  };
  // 300 MB announced without a token: 401 at once, the connection closed.
  const std::string noAuth = answerFor(huge);
  EXPECT_EQ(noAuth.rfind("HTTP/1.1 401", 0), 0u) << noAuth.substr(0, 300);
  // With a token, over the limit: 413 at once.
  const std::string tooBig = answerFor(huge + "Authorization: Bearer " + kDevToken + "\r\n");
  EXPECT_EQ(tooBig.rfind("HTTP/1.1 413", 0), 0u) << tooBig.substr(0, 300);
  EXPECT_NE(tooBig.find("PayloadTooLarge"), std::string::npos);
  // Chunked past the limit: 413 too, and nothing left behind.
  auto c = s.client();
  size_t sent = 0;
  auto r = c.Post(
      "/imodels", TestService::auth(),
      [&](size_t, httplib::DataSink& sink) {
        if (sent >= (4u << 20)) return sink.done(), true;
        const std::string chunk(64 * 1024, 'y');
        sent += chunk.size();
        return sink.write(chunk.data(), chunk.size());
      },
      "application/octet-stream");
  if (r) {
    EXPECT_EQ(r->status, 413) << r->body;
  }
  for (const auto& e : fs::recursive_directory_iterator(dir / "imodels")) EXPECT_FALSE(e.is_regular_file()) << e.path();
  // A JSON body over maxRequestBytes is 413 as well.
  auto big = s.client().Post("/mesh-export/", TestService::auth(), "{\"pad\":\"" + std::string(2 << 20, 'x') + "\"}",
                             "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  // A POST without Content-Length gets 411 at once, not a 5 s wait and a 400.
  const int fd = connectTo(s.svc->port());
  sendAll(fd,
          "POST /mesh-export/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(kDevToken) + "\r\n\r\n{}");
  const auto t0 = std::chrono::steady_clock::now();
  const std::string got = readUntilClosed(fd, 8000);
  ::close(fd);
  EXPECT_LT(msSince(t0), 2000);
  EXPECT_EQ(got.rfind("HTTP/1.1 411", 0), 0u) << got;
}

// ---- 8. Bytes that are not UTF-8 never make a 500 ----------------------------------------------------------

TEST(ServiceHardening, InvalidUtf8IsRefusedOrEscapedNever500) {
  const fs::path dir = freshDir("utf8");
  const std::string imodel = addImodel(dir);
  TestService s(dir);
  const std::string id = startExport(s, imodel);
  ASSERT_EQ(s.waitDone(id)["status"], "Complete");
  auto bad =
      s.client().Get("/mesh-export/?$top=1", TestService::auth(kDevToken, {{"x-api-host-and-root", "host\xff/root"}}));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_EQ(body(bad)["error"]["code"], "InvalidHeader");
  auto good = s.client().Get("/mesh-export/?$top=1",
                             TestService::auth(kDevToken, {{"x-api-host-and-root", "api.example.com/root"}}));
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200);
  // Text from files and stores that is not UTF-8 (an iModel's name) is escaped, not a 500.
  sqlExec(dir / "jobs.db", "UPDATE exports SET display_name = CAST(X'4142FF43' AS TEXT), error = CAST(X'FE' AS TEXT)");
  auto list = s.client().Get("/mesh-export/", TestService::auth(kDevToken, {{"Prefer", "return=representation"}}));
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200) << list->body;
  EXPECT_TRUE(json::accept(list->body));
}

TEST(ServiceHardening, ErrorsNameNoServerPathAndTruncatedIModelsAreRefused) {
  const fs::path dir = freshDir("paths");
  const std::string imodel = addImodel(dir);
  const fs::path failing = dir / "failing-tiler.sh";
  std::ofstream(failing) << "#!/bin/sh\necho \"cannot read " << (dir / "imodels" / "x.bim").string()
                         << ": no such file\" >&2\nexit 3\n";
  fs::permissions(failing, fs::perms::owner_all);
  TestService s(dir, [&](service::ServiceConfig& c) { c.tilerPath = failing; });
  json e = s.waitDone(startExport(s, imodel));
  ASSERT_EQ(e["status"], "Invalid");
  EXPECT_EQ(e["error"].get<std::string>().find(dir.string()), std::string::npos) << e["error"];
  EXPECT_NE(e["error"].get<std::string>().find("x.bim"), std::string::npos) << e["error"];
  // demo.bim less its last 504 bytes opens, but is not whole: refused with 422, no path in it.
  std::string bytes = fileBytes(fixture("demo.bim"));
  bytes.resize(bytes.size() - 504);
  auto r = s.client().Post("/imodels", TestService::auth(), bytes, "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_EQ(r->body.find(dir.string()), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find(".upload-"), std::string::npos) << r->body;
}

} // namespace
} // namespace mx::test
