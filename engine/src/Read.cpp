// Stage read: an input file → Scene, by extension (.bim: io/imodel; .glb/.gltf: io/gltf).
#include <mx/engine/Pipeline.h>
#include <mx/io/GltfReader.h>
#include <mx/io/ImodelReader.h>

#include <cctype>
#include <string>

namespace mx::engine {

using core::ErrorCode;
using core::Result;
using core::Status;

Result<core::Scene> readScene(const std::filesystem::path& input, const TilerConfig& config,
                              core::SceneBatches* batches) {
  std::string ext = input.extension().string();
  for (auto& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  if (ext == ".glb" || ext == ".gltf") return io::readGltf(input, batches);
  if (ext == ".bim") {
    MX_ASSIGN_OR_RETURN(io::ImodelFile file, io::ImodelFile::open(input));
    io::TessellationOptions t;
    t.angleTolerance = config.angleTolerance;
    t.chordTolerance = config.chordTolerance;
    t.boxForUnsupported = config.boxForUnsupported;
    MX_ASSIGN_OR_RETURN(io::ImodelScene is, file.readScene(t, batches));
    Result<core::Scene> scene(std::move(is.scene));
    // Geometry we cannot mesh yet is reported, never silently dropped.
    for (const auto& [kind, count] : is.skipped)
      scene.warnings().push_back(std::to_string(count) + " × " + kind +
                                 (kind.rfind("wire", 0) == 0 ? "" : ": not meshed yet"));
    for (const auto& [id, st] : is.elements)
      if (!st.error.empty()) scene.warnings().push_back("element " + io::formatId64(id) + " skipped: " + st.error);
    return scene;
  }
  return Status{ErrorCode::UnsupportedInput, input.string() + ": unknown input type (expected .bim, .glb or .gltf)"};
}

} // namespace mx::engine
