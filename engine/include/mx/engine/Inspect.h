#pragma once
// `meshexport inspect FILE.bim`: what the reader sees in an iModel, as JSON. The conformance
// interface against iTwin.js' own view of the same file (datasets/imodel/*.reference.json).
#include <mx/core/Result.h>

#include <nlohmann/json.hpp>

#include <filesystem>

namespace mx::engine {

/// File facts (iModelId, name, changeset, profile, projectExtents, ecefLocation) and one record
/// per spatial element: id ("0x…"), classFullName, model, category, world range, and the count of
/// each GeometryStream operation kind (or the decoding error of that element).
core::Result<nlohmann::json> inspectImodel(const std::filesystem::path& path);

} // namespace mx::engine
