// Where a glTF's bytes come from: the glb's BIN chunk and external .bin files are read through a
// memory map (no copy), data URIs are decoded, and every buffer is checked against its byteLength
// before an accessor reads it. The same geometry must come out whichever way it was stored.
#include <mx/core/MappedFile.h>
#include <mx/datasets/Generators.h>
#include <mx/io/GltfReader.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace mx;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path freshDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("mx_gltf_buffers_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void put(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

uint32_t u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

/// A glb taken apart: its JSON and its BIN chunk.
struct Parts {
  json j;
  std::vector<uint8_t> bin;
};

Parts split(const std::vector<uint8_t>& glb) {
  const uint32_t jsonLen = u32(glb.data() + 12);
  Parts p;
  p.j = json::parse(glb.begin() + 20, glb.begin() + 20 + jsonLen);
  const size_t binAt = 20 + jsonLen;
  const uint32_t binLen = u32(glb.data() + binAt);
  p.bin.assign(glb.begin() + long(binAt + 8), glb.begin() + long(binAt + 8 + binLen));
  return p;
}

std::vector<uint8_t> join(const json& j, const std::vector<uint8_t>& bin, bool withBin = true) {
  std::string text = j.dump();
  while (text.size() % 4) text += ' ';
  std::vector<uint8_t> out(12);
  auto add32 = [&](uint32_t v) {
    const auto* b = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), b, b + 4);
  };
  add32(uint32_t(text.size()));
  add32(0x4E4F534A);
  out.insert(out.end(), text.begin(), text.end());
  if (withBin) {
    std::vector<uint8_t> padded = bin;
    while (padded.size() % 4) padded.push_back(0);
    add32(uint32_t(padded.size()));
    add32(0x004E4942);
    out.insert(out.end(), padded.begin(), padded.end());
  }
  const uint32_t magic = 0x46546C67, version = 2, total = uint32_t(out.size());
  std::memcpy(out.data(), &magic, 4);
  std::memcpy(out.data() + 4, &version, 4);
  std::memcpy(out.data() + 8, &total, 4);
  return out;
}

/// Same triangles, in the same order, at the same places.
void expectSameGeometry(const core::Scene& a, const core::Scene& b) {
  ASSERT_EQ(a.triangleCount(), b.triangleCount());
  ASSERT_EQ(a.meshes.size(), b.meshes.size());
  for (size_t m = 0; m < a.meshes.size(); ++m) {
    ASSERT_EQ(a.meshes[m].indices, b.meshes[m].indices);
    ASSERT_EQ(a.meshes[m].positions.size(), b.meshes[m].positions.size());
    for (size_t i = 0; i < a.meshes[m].positions.size(); ++i) {
      EXPECT_EQ(a.meshes[m].positions[i].x, b.meshes[m].positions[i].x);
      EXPECT_EQ(a.meshes[m].positions[i].z, b.meshes[m].positions[i].z);
    }
  }
}

const std::vector<uint8_t>& cityGlb() {
  static const std::vector<uint8_t> glb = datasets::sceneToGlb(datasets::makeCity(4, 2, 3));
  return glb;
}

} // namespace

TEST(GltfBuffers, AMappedGlbFileReadsAsTheSameBytesInMemory) {
  const fs::path dir = freshDir("mapped");
  put(dir / "city.glb", cityGlb());
  auto fromMemory = io::readGltfFromMemory(cityGlb(), true);
  ASSERT_TRUE(fromMemory.isOk()) << fromMemory.status().toString();
  auto fromFile = io::readGltf(dir / "city.glb");
  ASSERT_TRUE(fromFile.isOk()) << fromFile.status().toString();
  ASSERT_GT(fromFile->triangleCount(), 100u);
  expectSameGeometry(*fromMemory, *fromFile);
  fs::remove_all(dir);
}

TEST(GltfBuffers, ExternalBuffersAndPaddedChunksReadAsTheGlb) {
  const fs::path dir = freshDir("external");
  Parts p = split(cityGlb());
  auto reference = io::readGltfFromMemory(cityGlb(), true);
  ASSERT_TRUE(reference.isOk());

  // An external .bin beside the .gltf, its name percent-encoded in the uri.
  json ext = p.j;
  ext["buffers"] = {{{"byteLength", p.bin.size()}, {"uri", "city%20data.bin"}}};
  put(dir / "city data.bin", p.bin);
  std::ofstream(dir / "city.gltf") << ext.dump();
  auto external = io::readGltf(dir / "city.gltf");
  ASSERT_TRUE(external.isOk()) << external.status().toString();
  expectSameGeometry(*reference, *external);

  // A glb whose BIN chunk is padded past byteLength reads the same (the padding is not data).
  json padded = p.j;
  std::vector<uint8_t> odd = p.bin;
  odd.push_back(7); // join() pads the chunk to 4 bytes: 3 bytes past byteLength
  padded["buffers"][0]["byteLength"] = odd.size();
  auto glb = io::readGltfFromMemory(join(padded, odd), true);
  ASSERT_TRUE(glb.isOk()) << glb.status().toString();
  expectSameGeometry(*reference, *glb);

  // The uri's file shorter than byteLength: an error naming the buffer, never a read past it.
  std::vector<uint8_t> shortBin(p.bin.begin(), p.bin.end() - 16);
  put(dir / "city data.bin", shortBin);
  auto truncated = io::readGltf(dir / "city.gltf");
  ASSERT_FALSE(truncated.isOk());
  EXPECT_EQ(truncated.status().code(), core::ErrorCode::MalformedInput);
  EXPECT_NE(truncated.status().message().find("buffer 0 is truncated"), std::string::npos)
      << truncated.status().toString();
  fs::remove_all(dir);
}

TEST(GltfBuffers, BadBuffersAreClearErrors) {
  Parts p = split(cityGlb());
  struct Bad {
    const char* name;
    json buffers;
    bool withBin;
    core::ErrorCode code;
    const char* mentions;
  };
  const std::vector<Bad> bad = {
      {"BIN shorter than byteLength",
       {{{"byteLength", p.bin.size() + 64}}},
       true,
       core::ErrorCode::MalformedInput,
       "buffer 0 is truncated"},
      {"no BIN chunk", {{{"byteLength", p.bin.size()}}}, false, core::ErrorCode::MalformedInput, "no glb BIN chunk"},
      {"negative byteLength", {{{"byteLength", -1}}}, true, core::ErrorCode::MalformedInput, "byteLength"},
      {"a web uri",
       {{{"byteLength", 4}, {"uri", "https://example.com/a.bin"}}},
       true,
       core::ErrorCode::UnsupportedInput,
       "https:"},
      {"a bad escape",
       {{{"byteLength", 4}, {"uri", "a%zz.bin"}}},
       true,
       core::ErrorCode::MalformedInput,
       "not a valid relative path"},
      {"a missing file",
       {{{"byteLength", 4}, {"uri", "nowhere.bin"}}},
       true,
       core::ErrorCode::MalformedInput,
       "nowhere.bin"},
      {"buffers not an array", {{"byteLength", 4}}, true, core::ErrorCode::MalformedInput, "not an array"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name);
    json j = p.j;
    j["buffers"] = b.buffers;
    auto r = io::readGltfFromMemory(join(j, p.bin, b.withBin), true, "/nonexistent");
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().code(), b.code) << r.status().toString();
    EXPECT_NE(r.status().message().find(b.mentions), std::string::npos) << r.status().toString();
  }
  // A chunk that claims more bytes than the file has.
  std::vector<uint8_t> glb = join(p.j, p.bin);
  const uint32_t huge = 0x7fffffff;
  std::memcpy(glb.data() + 12, &huge, 4);
  auto r = io::readGltfFromMemory(glb, true);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("runs past the end"), std::string::npos) << r.status().toString();
}

TEST(GltfBuffers, ImagesAreNeitherReadNorDecoded) {
  // Textures are not tiled: an embedded image (even a broken one) and an image file that does
  // not exist change nothing.
  Parts p = split(cityGlb());
  json j = p.j;
  std::vector<uint8_t> bin = p.bin;
  j["bufferViews"].push_back({{"buffer", 0}, {"byteOffset", bin.size()}, {"byteLength", 8}});
  for (int i = 0; i < 8; ++i) bin.push_back(uint8_t(i));
  j["buffers"][0]["byteLength"] = bin.size();
  j["images"] = {{{"bufferView", j["bufferViews"].size() - 1}, {"mimeType", "image/png"}}, {{"uri", "missing.png"}}};
  j["textures"] = {{{"source", 0}}, {{"source", 1}}};
  auto r = io::readGltfFromMemory(join(j, bin), true, "/nonexistent");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  auto reference = io::readGltfFromMemory(cityGlb(), true);
  expectSameGeometry(*reference, *r);
}

TEST(MappedFile, MapsFilesAndRefusesWhatIsNotOne) {
  const fs::path dir = freshDir("map");
  put(dir / "four", {1, 2, 3, 4});
  put(dir / "empty", {});
  auto four = core::MappedFile::open(dir / "four");
  ASSERT_TRUE(four.isOk());
  EXPECT_EQ(std::vector<uint8_t>(four->bytes().begin(), four->bytes().end()), (std::vector<uint8_t>{1, 2, 3, 4}));
  core::MappedFile moved = std::move(*four);
  EXPECT_EQ(moved.size(), 4u);
  EXPECT_EQ(four->size(), 0u);
  auto empty = core::MappedFile::open(dir / "empty");
  ASSERT_TRUE(empty.isOk());
  EXPECT_TRUE(empty->bytes().empty());
  for (const fs::path& bad : {dir / "missing", dir}) {
    auto r = core::MappedFile::open(bad);
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().code(), core::ErrorCode::IoError);
    EXPECT_NE(r.status().message().find(bad.string()), std::string::npos);
  }
  fs::remove_all(dir);
}
