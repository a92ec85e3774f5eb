#pragma once
#include <mx/core/IComputeBackend.h>
#include <mx/cpu/CpuLevel.h>

namespace mx::cpu {

/// The CPU backend at one level. Always available; the scalar level is the reference.
class CpuBackend final : public core::IComputeBackend {
public:
  explicit CpuBackend(CpuLevel level) : _level(level) {}

  [[nodiscard]] std::string_view name() const override;
  [[nodiscard]] bool isAvailable() const override { return true; }
  [[nodiscard]] std::string deviceName() const override;
  [[nodiscard]] bool supports(core::Stage, const core::MeshStats&) const override { return true; }

  core::Status partition(const core::PartitionInput& in, core::PartitionOutput& out) override;
  core::Status clusterVertices(const core::ClusterInput& in, core::ClusterOutput& out) override;
  core::Status quantize(const core::QuantizeInput& in, core::QuantizeOutput& out) override;

  [[nodiscard]] CpuLevel level() const { return _level; }

private:
  CpuLevel _level;
};

} // namespace mx::cpu
