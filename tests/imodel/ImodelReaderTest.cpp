// The .bim reader against iTwin.js' own view of the same file (datasets/imodel/fixtures/
// *.reference.json, written by datasets/imodel/make-fixtures.mjs), and every kind of bad file or
// GeometryStream giving a specific error, never a crash.
#include "ImodelTestSupport.h"

namespace mx::test {
namespace {

TEST(ImodelReader, FileFactsMatchITwinJs) {
  const json ref = reference("small");
  auto file = io::ImodelFile::open(kFixtures / "small.bim");
  ASSERT_TRUE(file.isOk()) << file.status().toString();
  const auto& f = file->facts();
  EXPECT_EQ(f.iModelId, ref["iModelId"]);
  EXPECT_EQ(f.name, ref["name"]);
  EXPECT_EQ(f.changesetId, ref["changeset"]["id"]);
  EXPECT_EQ(f.changesetIndex, ref["changeset"]["index"].get<int64_t>());
  ASSERT_TRUE(f.projectExtents.has_value());
  for (int a = 0; a < 3; ++a) {
    EXPECT_DOUBLE_EQ(f.projectExtents->min[a], ref["projectExtents"]["low"][a].get<double>());
    EXPECT_DOUBLE_EQ(f.projectExtents->max[a], ref["projectExtents"]["high"][a].get<double>());
  }
  // The ECEF transform iTwin.js computes (3 rows of [R | origin]) from the stored orientation.
  ASSERT_TRUE(f.ecef.has_value());
  const json& t = ref["ecefLocation"]["transform"];
  const core::Vec3d x = f.ecef->xVector, y = f.ecef->yVector, o = f.ecef->origin;
  for (int r = 0; r < 3; ++r) {
    expectNear(x[r], t[r][0].get<double>(), 1e-12, "xVector");
    expectNear(y[r], t[r][1].get<double>(), 1e-12, "yVector");
    expectNear(o[r], t[r][3].get<double>(), 1e-12, "origin");
  }
  EXPECT_EQ(f.profileVersion.substr(0, 2), "2.");
}
TEST(ImodelReader, SpatialElementsMatchITwinJs) {
  const json ref = reference("small");
  auto file = io::ImodelFile::open(kFixtures / "small.bim");
  ASSERT_TRUE(file.isOk());
  auto elements = file->spatialElements();
  ASSERT_TRUE(elements.isOk()) << elements.status().toString();
  ASSERT_EQ(elements->size(), ref["elements"].size());
  for (size_t i = 0; i < elements->size(); ++i) {
    const auto& e = (*elements)[i];
    const json& r = ref["elements"][i];
    SCOPED_TRACE(r["id"].get<std::string>());
    EXPECT_EQ(io::formatId64(e.id), r["id"]);
    EXPECT_EQ(e.className, r["classFullName"]);
    EXPECT_EQ(io::formatId64(e.model), r["model"]);
    EXPECT_EQ(io::formatId64(e.category), r["category"]);
    for (int a = 0; a < 3; ++a) { // world ranges within 1e-6 relative
      expectNear(e.worldRange.min[a], r["range"]["low"][a].get<double>(), 1e-6, "range low");
      expectNear(e.worldRange.max[a], r["range"]["high"][a].get<double>(), 1e-6, "range high");
    }
  }
}
TEST(ImodelReader, EveryGeometryStreamDecodes) {
  auto file = io::ImodelFile::open(kFixtures / "small.bim");
  ASSERT_TRUE(file.isOk());
  auto elements = file->spatialElements();
  ASSERT_TRUE(elements.isOk());
  for (const auto& e : *elements) {
    SCOPED_TRACE(io::formatId64(e.id));
    ASSERT_TRUE(e.hasGeometry);
    auto blob = file->geometryBlob(e.id);
    ASSERT_TRUE(blob.isOk());
    auto inflated = io::inflateGeometryBlob(*blob);
    ASSERT_TRUE(inflated.isOk()) << inflated.status().toString();
    auto ops = io::parseGeometryStream(*inflated);
    ASSERT_TRUE(ops.isOk()) << ops.status().toString();
    EXPECT_EQ(ops->front().opCode, 1u);
    EXPECT_GE(ops->size(), 2u);
    for (const auto& op : *ops) EXPECT_NE(io::opCodeName(op.opCode), "Unknown") << op.opCode;
  }
}
TEST(ImodelReader, InspectJsonHasTheConformanceFields) {
  auto j = engine::inspectImodel(kFixtures / "small.bim");
  ASSERT_TRUE(j.isOk()) << j.status().toString();
  const json ref = reference("small");
  EXPECT_EQ((*j)["iModelId"], ref["iModelId"]);
  ASSERT_EQ((*j)["elements"].size(), ref["elements"].size());
  EXPECT_EQ((*j)["elements"][0]["id"], ref["elements"][0]["id"]);
  EXPECT_EQ((*j)["summary"]["geometryErrors"], 0);
  EXPECT_EQ((*j)["summary"]["ops"]["Polyface"], 1);
}
TEST(ImodelReader, PlacementFormula) {
  // Yaw 90°: local x → world y.
  const auto m = io::placementTransform({1, 2, 3}, 90, 0, 0);
  const auto p = core::transformPoint(m, {1, 0, 0});
  EXPECT_NEAR(p.x, 1, 1e-12);
  EXPECT_NEAR(p.y, 3, 1e-12);
  EXPECT_NEAR(p.z, 3, 1e-12);
  // Positive pitch lifts local x towards +z.
  const auto q = core::transformPoint(io::placementTransform({}, 0, 30, 0), {1, 0, 0});
  EXPECT_NEAR(q.z, 0.5, 1e-12);
  // A flat box is widened to 1 mm.
  core::Aabb flat;
  flat.extend(0, 0, 2);
  flat.extend(1, 1, 2);
  const auto r = io::worldRange(flat, core::identityMatrix());
  EXPECT_NEAR(r.max[2] - r.min[2], 0.001, 1e-12);
  EXPECT_EQ(io::formatId64(0x20000000001ull), "0x20000000001");
}
TEST(ImodelReader, RejectsFilesThatAreNotIModels) {
  const auto dir = tmpDir();
  // Not SQLite at all.
  std::ofstream(dir / "random.bim", std::ios::binary) << std::string(5000, 'x');
  EXPECT_EQ(openError(dir / "random.bim").rfind("not-sqlite:", 0), 0u);
  std::ofstream(dir / "empty.bim", std::ios::binary).flush();
  EXPECT_EQ(openError(dir / "empty.bim").rfind("not-sqlite:", 0), 0u);
  // SQLite but not BeSQLite.
  fs::remove(dir / "plain.bim");
  sqliteExec(dir / "plain.bim", "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
  EXPECT_EQ(openError(dir / "plain.bim").rfind("not-an-imodel:", 0), 0u);
  // BeSQLite (application id BeDb) but no iModel tables.
  fs::remove(dir / "bedb.bim");
  sqliteExec(dir / "bedb.bim", "PRAGMA application_id = 1113932898; CREATE TABLE be_Prop(x);");
  EXPECT_EQ(openError(dir / "bedb.bim").rfind("not-an-imodel:", 0), 0u);
  // Missing file.
  auto missing = io::ImodelFile::open(dir / "nope.bim");
  ASSERT_FALSE(missing.isOk());
  EXPECT_EQ(missing.status().code(), core::ErrorCode::IoError);
}
TEST(ImodelReader, UnsupportedProfileIsNamed) {
  const auto dir = tmpDir();
  fs::copy_file(kFixtures / "small.bim", dir / "profile.bim", fs::copy_options::overwrite_existing);
  sqliteExec(dir / "profile.bim", "UPDATE be_Prop SET StrData='{\"major\":9,\"minor\":0,\"sub1\":0,\"sub2\":0}' WHERE "
                                  "Namespace='dgn_Db' AND Name='SchemaVersion';");
  auto r = io::ImodelFile::open(dir / "profile.bim");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::UnsupportedInput);
  EXPECT_EQ(r.status().message().rfind("unsupported-profile:", 0), 0u) << r.status().message();
}
TEST(ImodelReader, TruncatedFilesFailCleanly) {
  const auto dir = tmpDir();
  std::ifstream in(kFixtures / "small.bim", std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t cut : {size_t(100), size_t(4096), size_t(65536), bytes.size() / 2, bytes.size() - 4096}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const auto p = dir / ("cut-" + std::to_string(cut) + ".bim");
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(cut));
    auto file = io::ImodelFile::open(p);
    if (!file.isOk()) {
      EXPECT_EQ(file.status().code(), core::ErrorCode::MalformedInput) << file.status().toString();
      continue;
    }
    // Opened (the pages it needed were there): reading on may still fail, but cleanly.
    auto elements = file->spatialElements();
    if (!elements.isOk()) {
      EXPECT_EQ(elements.status().message().rfind("corrupt:", 0), 0u) << elements.status().message();
    }
  }
}
TEST(GeometryStream, RejectsDamagedBlobs) {
  const std::vector<uint8_t> good = chunk(stream({{1, 8}, {9, 16}}));
  ASSERT_TRUE(io::inflateGeometryBlob(good).isOk());
  auto bad = [](std::vector<uint8_t> blob, const char* what) {
    SCOPED_TRACE(what);
    auto r = io::inflateGeometryBlob(blob);
    auto ops = r ? io::parseGeometryStream(*r) : core::Result<std::vector<io::GeometryOp>>(r.status());
    ASSERT_FALSE(ops.isOk());
    EXPECT_EQ(ops.status().message().rfind("corrupt:", 0), 0u) << ops.status().message();
  };
  auto b = good;
  b[0] = 1, b[1] = 0;
  bad(b, "chunk size 1");
  b = good;
  b[0] = 0xFF, b[1] = 0xFF;
  bad(b, "chunk size beyond the blob");
  b = good;
  b.push_back(7);
  bad(b, "trailing byte");
  b = {0x08, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00}; // varint length ~4 GiB
  bad(b, "absurd snappy length");
  bad(chunk({0, 6, 0, 0, 8, 0, 0, 0}), "signature"); // 0x60000 instead of 0x600
  auto s = stream({{1, 8}});
  s[4] = 99; // header size wrong
  bad(chunk(s), "header size");
  s = stream({{1, 8}, {9, 16}});
  s[s.size() - 20] = 0xFF; // op size beyond the end
  bad(chunk(s), "op size");
  bad(chunk(stream({{9, 8}})), "no Header op first");
  // Random bytes never crash.
  std::mt19937 rng(99);
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> junk(rng() % 300);
    for (auto& x : junk) x = uint8_t(rng());
    auto r = io::inflateGeometryBlob(junk);
    if (r) {
      (void)io::parseGeometryStream(*r);
    }
  }
}
TEST(GeometryStream, InflationIsCapped) {
  std::vector<uint8_t> blob;
  for (int i = 0; i < 4; ++i) {
    auto c = chunk(std::vector<uint8_t>(30000, 0));
    blob.insert(blob.end(), c.begin(), c.end());
  }
  EXPECT_TRUE(io::inflateGeometryBlob(blob).isOk());
  auto capped = io::inflateGeometryBlob(blob, 100000);
  ASSERT_FALSE(capped.isOk());
  EXPECT_NE(capped.status().message().find("beyond"), std::string::npos);
}
TEST(ImodelReader, MultiChunkBlobsInflate) {
  // extras.bim's polyface (0x14): a GeometryStream of several 64 KiB SnappyToBlob chunks.
  auto file = io::ImodelFile::open(kFixtures / "extras.bim");
  ASSERT_TRUE(file.isOk());
  auto blob = file->geometryBlob(0x14);
  ASSERT_TRUE(blob.isOk());
  size_t chunks = 0;
  for (size_t at = 0; at + 2 <= blob->size(); ++chunks) at += size_t((*blob)[at]) | size_t((*blob)[at + 1]) << 8;
  EXPECT_GT(chunks, 2u);
  auto raw = io::inflateGeometryBlob(*blob);
  ASSERT_TRUE(raw.isOk());
  EXPECT_GT(raw->size(), size_t(2) * 65536);
}
TEST(GeometryStream, FuzzCorpusNeverCrashes) {
  // The fuzz seeds plus every input the fuzzer once crashed on (regress-*), run under the
  // sanitizer leg of CI with g++ as well.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(fs::path(MESHEXPORT_SOURCE_DIR) / "tests" / "fuzz" / "corpus")) {
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (bool box : {false, true}) {
      io::TessellationOptions o;
      o.boxForUnsupported = box;
      (void)io::tessellateGeometryBlob(b, o);
    }
    ++files;
  }
  EXPECT_GT(files, 10u);
}

} // namespace
} // namespace mx::test
