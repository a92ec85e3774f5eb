#include <mx/engine/TilerConfig.h>

#include <gtest/gtest.h>

using namespace mx;
using engine::parseTilerConfig;

TEST(TilerConfig, DefaultsAndValidValues) {
  auto c = parseTilerConfig({});
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->maxTrianglesPerTile, 32768u);
  EXPECT_TRUE(c->quantizePositions);
  c = parseTilerConfig({{"maxTrianglesPerTile", "1000"},
                        {"geometricErrorScale", "2.5"},
                        {"simplifier", "quadric"},
                        {"quantizePositions", "false"},
                        {"meshoptCompression", "true"},
                        {"device", "cpu"},
                        {"deviceMemoryMB", "2048"}});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->maxTrianglesPerTile, 1000u);
  EXPECT_DOUBLE_EQ(c->geometricErrorScale, 2.5);
  EXPECT_EQ(c->simplifier, engine::Simplifier::Quadric);
  EXPECT_FALSE(c->quantizePositions);
  EXPECT_TRUE(c->meshoptCompression);
  EXPECT_EQ(c->device, engine::DeviceChoice::Cpu);
  EXPECT_EQ(c->deviceMemoryMB, 2048u);
}

TEST(TilerConfig, ErrorsNameTheKey) {
  struct Case {
    std::string key, value;
    core::ErrorCode code;
  };
  for (const Case& k : std::vector<Case>{{"maxTriangles", "5", core::ErrorCode::UnknownConfigKey},
                                         {"maxTrianglesPerTile", "12", core::ErrorCode::InvalidArgument},
                                         {"maxTrianglesPerTile", "1e4", core::ErrorCode::InvalidArgument},
                                         {"maxTrianglesPerTile", "", core::ErrorCode::InvalidArgument},
                                         {"geometricErrorScale", "nan", core::ErrorCode::InvalidArgument},
                                         {"geometricErrorScale", "0", core::ErrorCode::InvalidArgument},
                                         {"simplifier", "magic", core::ErrorCode::InvalidArgument},
                                         {"quantizePositions", "yes", core::ErrorCode::InvalidArgument},
                                         {"meshoptCompression", "TRUE", core::ErrorCode::InvalidArgument},
                                         {"device", "tpu", core::ErrorCode::InvalidArgument},
                                         {"deviceMemoryMB", "-1", core::ErrorCode::InvalidArgument},
                                         {"deviceMemoryMB", "1.5", core::ErrorCode::InvalidArgument},
                                         {"deviceMemoryMB", "99999999", core::ErrorCode::InvalidArgument}}) {
    SCOPED_TRACE(k.key + "=" + k.value);
    auto c = parseTilerConfig({{k.key, k.value}});
    ASSERT_FALSE(c.isOk());
    EXPECT_EQ(c.status().code(), k.code);
    EXPECT_NE(c.status().message().find(k.key), std::string::npos) << c.status().message();
  }
  auto twice = parseTilerConfig({{"device", "cpu"}, {"device", "auto"}});
  ASSERT_FALSE(twice.isOk());
  EXPECT_NE(twice.status().message().find("more than once"), std::string::npos);
}

TEST(TilerConfig, EveryKeyIsDocumentedAndAcceptsItsDefault) {
  for (const auto& k : engine::tilerConfigKeys()) {
    SCOPED_TRACE(std::string(k.name));
    EXPECT_FALSE(k.description.empty());
    engine::TilerConfig c;
    EXPECT_TRUE(engine::applyTilerConfig(c, k.name, k.defaultValue).isOk());
  }
}

TEST(TilerConfig, TheSeedsKeys) {
  // The Mesh Export API's own example: maxTileSize 128, enableCompression true, outputFormat glb.
  auto c = parseTilerConfig({{"maxTileSize", "128"}, {"enableCompression", "true"}, {"outputFormat", "glb"}});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->maxTileSizeKiB, 128u);
  EXPECT_TRUE(c->meshoptCompression);
  EXPECT_EQ(c->outputFormat, io::ContentFormat::Glb);
  c = parseTilerConfig({{"outputFormat", "b3dm"}, {"maxTileSize", "0"}});
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->outputFormat, io::ContentFormat::B3dm);
  EXPECT_EQ(c->maxTileSizeKiB, 0u);
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{{"maxTileSize", "8"},
                                                                             {"maxTileSize", "1048577"},
                                                                             {"maxTileSize", "-5"},
                                                                             {"enableCompression", "yes"},
                                                                             {"outputFormat", "gltf"},
                                                                             {"outputFormat", "B3DM"}}) {
    SCOPED_TRACE(k + "=" + v);
    auto bad = parseTilerConfig({{k, v}});
    ASSERT_FALSE(bad.isOk());
    EXPECT_EQ(bad.status().code(), core::ErrorCode::InvalidArgument);
    EXPECT_NE(bad.status().message().find(k), std::string::npos);
  }
  // Two names of one setting are one key given twice.
  auto both = parseTilerConfig({{"meshoptCompression", "true"}, {"enableCompression", "true"}});
  ASSERT_FALSE(both.isOk());
  EXPECT_NE(both.status().message().find("another name of meshoptCompression"), std::string::npos)
      << both.status().message();
  EXPECT_EQ(engine::canonicalConfigKey("enableCompression"), "meshoptCompression");
  EXPECT_EQ(engine::canonicalConfigKey("maxTileSize"), "maxTileSize");
}

TEST(TilerConfig, ChecksAgainstTheExportType) {
  engine::TilerConfig c;
  c.outputFormat = io::ContentFormat::B3dm;
  EXPECT_TRUE(engine::checkTilerConfig(c, io::ExportType::ThreeDTiles).isOk());
  EXPECT_TRUE(engine::checkTilerConfig(c, io::ExportType::Cesium).isOk());
  auto s = engine::checkTilerConfig(c, io::ExportType::Imodel);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("outputFormat"), std::string::npos);
  c = {};
  c.meshoptCompression = true;
  EXPECT_FALSE(engine::checkTilerConfig(c, io::ExportType::Imodel).isOk());
  c = {};
  c.maxTileSizeKiB = 64;
  EXPECT_TRUE(engine::checkTilerConfig(c, io::ExportType::Imodel).isOk());
}
