// Highway kernels, compiled once per SIMD target (foreach_target) and dispatched at run time.
// Each loop's tail uses the scalar formulas of ScalarKernels.h, so results are bit-identical to
// the scalar reference.
#include "SimdKernels.h"
#include <mx/core/GridMath.h>

#include <cfloat>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "SimdKernels.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mx::cpu::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using DU = hn::RebindToUnsigned<DF>;

void BoundsSoA(const float* HWY_RESTRICT x, const float* HWY_RESTRICT y, const float* HWY_RESTRICT z, size_t n,
               float* HWY_RESTRICT out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  auto mnx = hn::Set(d, FLT_MAX), mny = mnx, mnz = mnx;
  auto mxx = hn::Set(d, -FLT_MAX), mxy = mxx, mxz = mxx;
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto vx = hn::LoadU(d, x + i), vy = hn::LoadU(d, y + i), vz = hn::LoadU(d, z + i);
    mnx = hn::Min(mnx, vx);
    mxx = hn::Max(mxx, vx);
    mny = hn::Min(mny, vy);
    mxy = hn::Max(mxy, vy);
    mnz = hn::Min(mnz, vz);
    mxz = hn::Max(mxz, vz);
  }
  float r[6] = {hn::GetLane(hn::MinOfLanes(d, mnx)), hn::GetLane(hn::MinOfLanes(d, mny)),
                hn::GetLane(hn::MinOfLanes(d, mnz)), hn::GetLane(hn::MaxOfLanes(d, mxx)),
                hn::GetLane(hn::MaxOfLanes(d, mxy)), hn::GetLane(hn::MaxOfLanes(d, mxz))};
  for (; i < n; ++i) {
    r[0] = std::fmin(r[0], x[i]);
    r[3] = std::fmax(r[3], x[i]);
    r[1] = std::fmin(r[1], y[i]);
    r[4] = std::fmax(r[4], y[i]);
    r[2] = std::fmin(r[2], z[i]);
    r[5] = std::fmax(r[5], z[i]);
  }
  for (int k = 0; k < 6; ++k) out[k] = r[k];
}

template <class V> HWY_INLINE V GridCoord(DF d, V v, V origin, V scale, V maxCoord) {
  auto f = hn::Floor(hn::Mul(hn::Sub(v, origin), scale));
  return hn::Min(hn::Max(f, hn::Zero(d)), maxCoord);
}

template <class V> HWY_INLINE V Expand10(DU du, V v) {
  v = hn::And(hn::Or(v, hn::ShiftLeft<16>(v)), hn::Set(du, 0x030000FFu));
  v = hn::And(hn::Or(v, hn::ShiftLeft<8>(v)), hn::Set(du, 0x0300F00Fu));
  v = hn::And(hn::Or(v, hn::ShiftLeft<4>(v)), hn::Set(du, 0x030C30C3u));
  v = hn::And(hn::Or(v, hn::ShiftLeft<2>(v)), hn::Set(du, 0x09249249u));
  return v;
}

void MortonCodes(const float* HWY_RESTRICT x, const float* HWY_RESTRICT y, const float* HWY_RESTRICT z, size_t n,
                 const float* origin, const float* scale, uint32_t* HWY_RESTRICT codes) {
  const DF d;
  const DI di;
  const DU du;
  const size_t N = hn::Lanes(d);
  const auto ox = hn::Set(d, origin[0]), oy = hn::Set(d, origin[1]), oz = hn::Set(d, origin[2]);
  const auto sx = hn::Set(d, scale[0]), sy = hn::Set(d, scale[1]), sz = hn::Set(d, scale[2]);
  const auto maxC = hn::Set(d, 1023.0f);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto gx = hn::BitCast(du, hn::ConvertTo(di, GridCoord(d, hn::LoadU(d, x + i), ox, sx, maxC)));
    const auto gy = hn::BitCast(du, hn::ConvertTo(di, GridCoord(d, hn::LoadU(d, y + i), oy, sy, maxC)));
    const auto gz = hn::BitCast(du, hn::ConvertTo(di, GridCoord(d, hn::LoadU(d, z + i), oz, sz, maxC)));
    const auto code =
        hn::Or(hn::Or(hn::ShiftLeft<2>(Expand10(du, gx)), hn::ShiftLeft<1>(Expand10(du, gy))), Expand10(du, gz));
    hn::StoreU(code, du, codes + i);
  }
  for (; i < n; ++i)
    codes[i] = core::morton3(core::gridCoord(x[i], origin[0], scale[0], 1023.0f),
                             core::gridCoord(y[i], origin[1], scale[1], 1023.0f),
                             core::gridCoord(z[i], origin[2], scale[2], 1023.0f));
}

void CellCodes(const float* HWY_RESTRICT xyz, size_t n, const float* origin, float invCell,
               uint32_t* HWY_RESTRICT codes) {
  const DF d;
  const DI di;
  const DU du;
  const size_t N = hn::Lanes(d);
  const auto ox = hn::Set(d, origin[0]), oy = hn::Set(d, origin[1]), oz = hn::Set(d, origin[2]);
  const auto s = hn::Set(d, invCell);
  const auto maxC = hn::Set(d, 1023.0f);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::Vec<DF> vx, vy, vz;
    hn::LoadInterleaved3(d, xyz + 3 * i, vx, vy, vz);
    const auto gx = hn::BitCast(du, hn::ConvertTo(di, GridCoord(d, vx, ox, s, maxC)));
    const auto gy = hn::BitCast(du, hn::ConvertTo(di, GridCoord(d, vy, oy, s, maxC)));
    const auto gz = hn::BitCast(du, hn::ConvertTo(di, GridCoord(d, vz, oz, s, maxC)));
    hn::StoreU(hn::Or(hn::Or(hn::ShiftLeft<2>(Expand10(du, gx)), hn::ShiftLeft<1>(Expand10(du, gy))), Expand10(du, gz)),
               du, codes + i);
  }
  for (; i < n; ++i)
    codes[i] = core::packCell(core::gridCoord(xyz[3 * i], origin[0], invCell, 1023.0f),
                              core::gridCoord(xyz[3 * i + 1], origin[1], invCell, 1023.0f),
                              core::gridCoord(xyz[3 * i + 2], origin[2], invCell, 1023.0f));
}

void QuantizePositions(const float* HWY_RESTRICT xyz, size_t n, const float* origin, const float* inv,
                       uint16_t* HWY_RESTRICT out4) {
  const DF d;
  const DI di;
  const size_t N = hn::Lanes(d);
  const auto ox = hn::Set(d, origin[0]), oy = hn::Set(d, origin[1]), oz = hn::Set(d, origin[2]);
  const auto sx = hn::Set(d, inv[0]), sy = hn::Set(d, inv[1]), sz = hn::Set(d, inv[2]);
  const auto lo = hn::Zero(d), hi = hn::Set(d, 65535.0f);
  HWY_ALIGN int32_t qx[hn::MaxLanes(di)], qy[hn::MaxLanes(di)], qz[hn::MaxLanes(di)];
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::Vec<DF> vx, vy, vz;
    hn::LoadInterleaved3(d, xyz + 3 * i, vx, vy, vz);
    hn::Store(hn::NearestInt(hn::Min(hn::Max(hn::Mul(hn::Sub(vx, ox), sx), lo), hi)), di, qx);
    hn::Store(hn::NearestInt(hn::Min(hn::Max(hn::Mul(hn::Sub(vy, oy), sy), lo), hi)), di, qy);
    hn::Store(hn::NearestInt(hn::Min(hn::Max(hn::Mul(hn::Sub(vz, oz), sz), lo), hi)), di, qz);
    uint16_t* o = out4 + 4 * i;
    for (size_t k = 0; k < N; ++k) {
      o[4 * k] = static_cast<uint16_t>(qx[k]);
      o[4 * k + 1] = static_cast<uint16_t>(qy[k]);
      o[4 * k + 2] = static_cast<uint16_t>(qz[k]);
      o[4 * k + 3] = 0;
    }
  }
  for (; i < n; ++i) {
    for (int a = 0; a < 3; ++a) out4[4 * i + a] = core::quantizeUnorm16(xyz[3 * i + a], origin[a], inv[a]);
    out4[4 * i + 3] = 0;
  }
}

void QuantizeNormals(const float* HWY_RESTRICT xyz, size_t n, int8_t* HWY_RESTRICT out4) {
  const DF d;
  const DI di;
  const size_t N = hn::Lanes(d);
  const auto s = hn::Set(d, 127.0f), lo = hn::Set(d, -127.0f), hi = hn::Set(d, 127.0f);
  HWY_ALIGN int32_t q[3][hn::MaxLanes(di)];
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::Vec<DF> v[3];
    hn::LoadInterleaved3(d, xyz + 3 * i, v[0], v[1], v[2]);
    for (int a = 0; a < 3; ++a) hn::Store(hn::NearestInt(hn::Min(hn::Max(hn::Mul(v[a], s), lo), hi)), di, q[a]);
    int8_t* o = out4 + 4 * i;
    for (size_t k = 0; k < N; ++k) {
      o[4 * k] = static_cast<int8_t>(q[0][k]);
      o[4 * k + 1] = static_cast<int8_t>(q[1][k]);
      o[4 * k + 2] = static_cast<int8_t>(q[2][k]);
      o[4 * k + 3] = 0;
    }
  }
  for (; i < n; ++i) {
    for (int a = 0; a < 3; ++a) out4[4 * i + a] = core::quantizeSnorm8(xyz[3 * i + a]);
    out4[4 * i + 3] = 0;
  }
}

} // namespace HWY_NAMESPACE
} // namespace mx::cpu::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <hwy/contrib/sort/vqsort.h>

namespace mx::cpu::simd {

HWY_EXPORT(BoundsSoA);
HWY_EXPORT(MortonCodes);
HWY_EXPORT(CellCodes);
HWY_EXPORT(QuantizePositions);
HWY_EXPORT(QuantizeNormals);

void boundsSoA(const float* x, const float* y, const float* z, size_t n, float out[6]) {
  HWY_DYNAMIC_DISPATCH(BoundsSoA)(x, y, z, n, out);
}
void mortonCodes(const float* x, const float* y, const float* z, size_t n, const float origin[3], const float scale[3],
                 uint32_t* codes) {
  HWY_DYNAMIC_DISPATCH(MortonCodes)(x, y, z, n, origin, scale, codes);
}
void cellCodes(const float* xyz, size_t n, const float origin[3], float invCell, uint32_t* codes) {
  HWY_DYNAMIC_DISPATCH(CellCodes)(xyz, n, origin, invCell, codes);
}
void quantizePositions(const float* xyz, size_t n, const float origin[3], const float inv[3], uint16_t* out4) {
  HWY_DYNAMIC_DISPATCH(QuantizePositions)(xyz, n, origin, inv, out4);
}
void quantizeNormals(const float* xyz, size_t n, int8_t* out4) { HWY_DYNAMIC_DISPATCH(QuantizeNormals)(xyz, n, out4); }
void sortU64(uint64_t* keys, size_t n) {
  hwy::Sorter sorter;
  sorter(keys, n, hwy::SortAscending());
}

} // namespace mx::cpu::simd
#endif
