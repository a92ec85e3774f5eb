#include <mx/cpu/Algorithms.h>
#include <mx/cpu/CpuBackend.h>

namespace mx::cpu {

std::string_view CpuBackend::name() const { return _level == CpuLevel::Scalar ? "cpu-scalar" : "cpu-simd"; }

std::string CpuBackend::deviceName() const {
  return _level == CpuLevel::Scalar ? std::string("scalar") : simdTargetName();
}

core::Status CpuBackend::partition(const core::PartitionInput& in, core::PartitionOutput& out) {
  return cpu::partition(_level, in, out);
}

core::Status CpuBackend::clusterVertices(const core::ClusterInput& in, core::ClusterOutput& out) {
  return cpu::clusterVertices(_level, in, out);
}

core::Status CpuBackend::quantize(const core::QuantizeInput& in, core::QuantizeOutput& out) {
  return cpu::quantize(_level, in, out);
}

} // namespace mx::cpu
