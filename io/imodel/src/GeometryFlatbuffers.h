#pragma once
// The flatbuffer tables of element geometry (ElementGraphics.fbs, "EG") and of Bentley geometry
// (allcg.fbs, "BGFB") that the reader decodes, declared the way flatc would generate them (no
// generated code is needed: ../shared/docs/imodel-format.md sections 6–7). Every buffer is
// checked with flatbuffers::Verifier before a field is read: hostile offsets or sizes make the
// element fail with an error, never read outside the op.
#include <flatbuffers/flatbuffers.h>

#include <cstdint>

namespace mx::io::fb {

using flatbuffers::Table;
using flatbuffers::Vector;
using flatbuffers::Verifier;

constexpr flatbuffers::voffset_t field(int id) { return flatbuffers::voffset_t(4 + 2 * id); }

/// flatbuffers' Verifier checks a vector's 4-byte length field, not where 8-byte elements land:
/// a buffer whose doubles or points are not 8-byte aligned is refused (the reader keeps every
/// buffer 8-byte aligned in memory, and flatc-built buffers align them relative to their start).
template <typename T> bool aligned8(const Vector<T>* vec) {
  return !vec || reinterpret_cast<uintptr_t>(vec->Data()) % 8 == 0;
}
/// VerifyVector and aligned8 together, for vectors of doubles and points.
template <typename T> bool verifyVector8(Verifier& v, const Vector<T>* vec) {
  return v.VerifyVector(vec) && aligned8(vec);
}

struct DPoint3d {
  double x, y, z;
};
struct BoxDetail {
  DPoint3d baseOrigin, topOrigin, vectorX, vectorY;
  double baseX, baseY, topX, topY;
  uint8_t capped, pad[7];
};
struct SphereDetail {
  double localToWorld[12]; // row-major 3x4
  double startLatitude, latitudeSweep;
  uint8_t capped, pad[7];
};
struct ConeDetail {
  DPoint3d centerA, centerB, vector0, vector90;
  double radiusA, radiusB;
  uint8_t capped, pad[7];
};
struct TorusDetail {
  DPoint3d center, vectorX, vectorY;
  double majorRadius, minorRadius, sweep;
  uint8_t capped, pad[7];
};
static_assert(sizeof(BoxDetail) == 136 && sizeof(SphereDetail) == 120 && sizeof(ConeDetail) == 120 &&
              sizeof(TorusDetail) == 104);

// ---- EG ---------------------------------------------------------------------------------------

struct BasicSymbology : private Table {
  int64_t subCategoryId() const { return GetField<int64_t>(field(0), 0); }
  uint32_t color() const { return GetField<uint32_t>(field(1), 0); }
  double transparency() const { return GetField<double>(field(4), 0); }
  bool useColor() const { return GetField<uint8_t>(field(7), 0) != 0; }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyField<int64_t>(v, field(0), 8) && VerifyField<uint32_t>(v, field(1), 4) &&
           VerifyField<double>(v, field(4), 8) && VerifyField<uint8_t>(v, field(7), 1) && v.EndTable();
  }
};

struct GeometryPart : private Table {
  int64_t partId() const { return GetField<int64_t>(field(0), 0); }
  const DPoint3d* origin() const { return GetStruct<const DPoint3d*>(field(1)); }
  double yaw() const { return GetField<double>(field(2), 0); }
  double pitch() const { return GetField<double>(field(3), 0); }
  double roll() const { return GetField<double>(field(4), 0); }
  double scale() const { return GetField<double>(field(5), 1.0); }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyField<int64_t>(v, field(0), 8) && VerifyField<DPoint3d>(v, field(1), 8) &&
           VerifyField<double>(v, field(2), 8) && VerifyField<double>(v, field(3), 8) &&
           VerifyField<double>(v, field(4), 8) && VerifyField<double>(v, field(5), 8) && v.EndTable();
  }
};

struct MaterialOp : private Table {
  bool useMaterial() const { return GetField<uint8_t>(field(0), 0) != 0; }
  int64_t materialId() const { return GetField<int64_t>(field(1), 0); }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyField<uint8_t>(v, field(0), 1) && VerifyField<int64_t>(v, field(1), 8) &&
           v.EndTable();
  }
};

/// PointPrimitive (op 5): points and boundary (0 point string, 1 line string, 2 closed shape).
struct PointPrimitive : private Table {
  const Vector<const DPoint3d*>* coords() const { return GetPointer<const Vector<const DPoint3d*>*>(field(0)); }
  int8_t boundary() const { return GetField<int8_t>(field(1), 0); }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyOffset(v, field(0)) && verifyVector8(v, coords()) &&
           VerifyField<int8_t>(v, field(1), 1) && v.EndTable();
  }
};
/// ArcPrimitive (op 7): an elliptic arc; boundary 2 = the full ellipse as a filled disc.
struct ArcPrimitive : private Table {
  const DPoint3d* center() const { return GetStruct<const DPoint3d*>(field(0)); }
  const DPoint3d* vector0() const { return GetStruct<const DPoint3d*>(field(1)); }
  const DPoint3d* vector90() const { return GetStruct<const DPoint3d*>(field(2)); }
  double start() const { return GetField<double>(field(3), 0); }
  double sweep() const { return GetField<double>(field(4), 0); }
  int8_t boundary() const { return GetField<int8_t>(field(5), 0); }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyField<DPoint3d>(v, field(0), 8) && VerifyField<DPoint3d>(v, field(1), 8) &&
           VerifyField<DPoint3d>(v, field(2), 8) && VerifyField<double>(v, field(3), 8) &&
           VerifyField<double>(v, field(4), 8) && VerifyField<int8_t>(v, field(5), 1) && v.EndTable();
  }
};

// ---- BGFB -------------------------------------------------------------------------------------

enum GeometryType : uint8_t {
  kLineSegment = 1,
  kEllipticArc = 2,
  kBsplineCurve = 3,
  kLineString = 4,
  kCurveVector = 5,
  kCone = 6,
  kSphere = 7,
  kTorusPipe = 8,
  kBox = 9,
  kExtrusion = 10,
  kRotationalSweep = 11,
  kRuledSweep = 12,
  kPolyface = 13,
  kBsplineSurface = 14,
  kPointString = 18 ///< Same table layout as LineString (0 points [f64]).
};

struct DSegment3d {
  DPoint3d p0, p1;
};
struct DEllipse3d {
  DPoint3d center, vector0, vector90;
  double start, sweep;
};
static_assert(sizeof(DSegment3d) == 48 && sizeof(DEllipse3d) == 88);

struct VariantGeometry;

/// CurveVector: boundary type (0 bag, 1 path: wires; 2 outer, 3 inner loop, 4 parity region,
/// 5 union region: areas) and its curves.
struct CurveVector : private Table {
  int32_t boundaryType() const { return GetField<int32_t>(field(0), 0); }
  const Vector<flatbuffers::Offset<VariantGeometry>>* curves() const {
    return GetPointer<const Vector<flatbuffers::Offset<VariantGeometry>>*>(field(1));
  }
  bool Verify(Verifier& v) const; // defined after VariantGeometry
};

struct LineSegment : private Table {
  const DSegment3d* segment() const { return GetStruct<const DSegment3d*>(field(0)); }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyField<DSegment3d>(v, field(0), 8) && v.EndTable();
  }
};
struct EllipticArc : private Table {
  const DEllipse3d* arc() const { return GetStruct<const DEllipse3d*>(field(0)); }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyField<DEllipse3d>(v, field(0), 8) && v.EndTable();
  }
};
struct LineString : private Table {
  const Vector<double>* points() const { return GetPointer<const Vector<double>*>(field(0)); }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyOffset(v, field(0)) && verifyVector8(v, points()) && v.EndTable();
  }
};
struct DRay3d {
  DPoint3d origin, direction;
};
static_assert(sizeof(DRay3d) == 48);

struct DgnRotationalSweep : private Table {
  const CurveVector* baseCurve() const { return GetPointer<const CurveVector*>(field(0)); }
  const DRay3d* axis() const { return GetStruct<const DRay3d*>(field(1)); }
  double sweep() const { return GetField<double>(field(2), 0); }
  bool capped() const { return GetField<uint8_t>(field(4), 0) != 0; }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyOffset(v, field(0)) && (!baseCurve() || baseCurve()->Verify(v)) &&
           VerifyField<DRay3d>(v, field(1), 8) && VerifyField<double>(v, field(2), 8) &&
           VerifyField<int32_t>(v, field(3), 4) && VerifyField<uint8_t>(v, field(4), 1) && v.EndTable();
  }
};

struct DgnRuledSweep : private Table {
  const Vector<flatbuffers::Offset<CurveVector>>* curves() const {
    return GetPointer<const Vector<flatbuffers::Offset<CurveVector>>*>(field(0));
  }
  bool capped() const { return GetField<uint8_t>(field(1), 0) != 0; }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyOffset(v, field(0)) &&
           (!curves() || (v.VerifyVector(curves()) && v.VerifyVectorOfTables(curves()))) &&
           VerifyField<uint8_t>(v, field(1), 1) && v.EndTable();
  }
};

struct DgnExtrusion : private Table {
  const CurveVector* baseCurve() const { return GetPointer<const CurveVector*>(field(0)); }
  const DPoint3d* vector() const { return GetStruct<const DPoint3d*>(field(1)); }
  bool capped() const { return GetField<uint8_t>(field(2), 0) != 0; }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyOffset(v, field(0)) && (!baseCurve() || baseCurve()->Verify(v)) &&
           VerifyField<DPoint3d>(v, field(1), 8) && VerifyField<uint8_t>(v, field(2), 1) && v.EndTable();
  }
};

template <typename Detail> struct DetailTable : private Table {
  const Detail* detail() const { return GetStruct<const Detail*>(field(0)); }
  bool Verify(Verifier& v) const { return VerifyTableStart(v) && VerifyField<Detail>(v, field(0), 8) && v.EndTable(); }
};

struct Polyface : private Table {
  const Vector<double>* point() const { return GetPointer<const Vector<double>*>(field(0)); }
  const Vector<int32_t>* pointIndex() const { return GetPointer<const Vector<int32_t>*>(field(5)); }
  int32_t numPerFace() const { return GetField<int32_t>(field(10), 0); }
  bool twoSided() const { return GetField<uint8_t>(field(13), 0) != 0; }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyOffset(v, field(0)) && verifyVector8(v, point()) && VerifyOffset(v, field(5)) &&
           v.VerifyVector(pointIndex()) && VerifyField<int32_t>(v, field(10), 4) &&
           VerifyField<uint8_t>(v, field(13), 1) && v.EndTable();
  }
};

/// BGFB BsplineCurve: order, closed, poles xyz (multiplied by their weights when rational),
/// weights, the full knot vector (numPoles + order values).
struct BsplineCurve : private Table {
  int32_t order() const { return GetField<int32_t>(field(0), 0); }
  const Vector<double>* poles() const { return GetPointer<const Vector<double>*>(field(2)); }
  const Vector<double>* weights() const { return GetPointer<const Vector<double>*>(field(3)); }
  const Vector<double>* knots() const { return GetPointer<const Vector<double>*>(field(4)); }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyField<int32_t>(v, field(0), 4) && VerifyField<uint8_t>(v, field(1), 1) &&
           VerifyOffset(v, field(2)) && verifyVector8(v, poles()) && VerifyOffset(v, field(3)) &&
           verifyVector8(v, weights()) && VerifyOffset(v, field(4)) && verifyVector8(v, knots()) && v.EndTable();
  }
};

/// BGFB BsplineSurface: poles (u fastest; multiplied by their weights when rational), full knot
/// vectors (numPoles + order values), orders; trim boundaries are detected, not read.
struct BsplineSurface : private Table {
  const Vector<double>* poles() const { return GetPointer<const Vector<double>*>(field(0)); }
  const Vector<double>* weights() const { return GetPointer<const Vector<double>*>(field(1)); }
  const Vector<double>* knotsU() const { return GetPointer<const Vector<double>*>(field(2)); }
  const Vector<double>* knotsV() const { return GetPointer<const Vector<double>*>(field(3)); }
  int32_t numPolesU() const { return GetField<int32_t>(field(4), 0); }
  int32_t numPolesV() const { return GetField<int32_t>(field(5), 0); }
  int32_t orderU() const { return GetField<int32_t>(field(6), 0); }
  int32_t orderV() const { return GetField<int32_t>(field(7), 0); }
  bool trimmed() const { return CheckField(field(11)); }
  bool closedU() const { return GetField<uint8_t>(field(12), 0) != 0; }
  bool closedV() const { return GetField<uint8_t>(field(13), 0) != 0; }
  bool Verify(Verifier& v) const {
    return VerifyTableStart(v) && VerifyOffset(v, field(0)) && verifyVector8(v, poles()) && VerifyOffset(v, field(1)) &&
           verifyVector8(v, weights()) && VerifyOffset(v, field(2)) && verifyVector8(v, knotsU()) &&
           VerifyOffset(v, field(3)) && verifyVector8(v, knotsV()) && VerifyField<int32_t>(v, field(4), 4) &&
           VerifyField<int32_t>(v, field(5), 4) && VerifyField<int32_t>(v, field(6), 4) &&
           VerifyField<int32_t>(v, field(7), 4) && VerifyField<uint8_t>(v, field(12), 1) &&
           VerifyField<uint8_t>(v, field(13), 1) && v.EndTable();
  }
};

struct VariantGeometry : private Table {
  uint8_t type() const { return GetField<uint8_t>(field(0), 0); }
  template <typename T> const T* as() const { return GetPointer<const T*>(field(1)); }
  bool Verify(Verifier& v) const {
    if (!VerifyTableStart(v) || !VerifyField<uint8_t>(v, field(0), 1) || !VerifyOffset(v, field(1))) return false;
    bool ok = true;
    switch (type()) { // members we read are verified; others are skipped unread
    case kBox:
      ok = !as<DetailTable<BoxDetail>>() || as<DetailTable<BoxDetail>>()->Verify(v);
      break;
    case kSphere:
      ok = !as<DetailTable<SphereDetail>>() || as<DetailTable<SphereDetail>>()->Verify(v);
      break;
    case kCone:
      ok = !as<DetailTable<ConeDetail>>() || as<DetailTable<ConeDetail>>()->Verify(v);
      break;
    case kTorusPipe:
      ok = !as<DetailTable<TorusDetail>>() || as<DetailTable<TorusDetail>>()->Verify(v);
      break;
    case kPolyface:
      ok = !as<Polyface>() || as<Polyface>()->Verify(v);
      break;
    case kCurveVector:
      ok = !as<CurveVector>() || as<CurveVector>()->Verify(v);
      break;
    case kLineSegment:
      ok = !as<LineSegment>() || as<LineSegment>()->Verify(v);
      break;
    case kEllipticArc:
      ok = !as<EllipticArc>() || as<EllipticArc>()->Verify(v);
      break;
    case kLineString:
    case kPointString:
      ok = !as<LineString>() || as<LineString>()->Verify(v);
      break;
    case kExtrusion:
      ok = !as<DgnExtrusion>() || as<DgnExtrusion>()->Verify(v);
      break;
    case kRotationalSweep:
      ok = !as<DgnRotationalSweep>() || as<DgnRotationalSweep>()->Verify(v);
      break;
    case kRuledSweep:
      ok = !as<DgnRuledSweep>() || as<DgnRuledSweep>()->Verify(v);
      break;
    case kBsplineSurface:
      ok = !as<BsplineSurface>() || as<BsplineSurface>()->Verify(v);
      break;
    case kBsplineCurve:
      ok = !as<BsplineCurve>() || as<BsplineCurve>()->Verify(v);
      break;
    default:
      break;
    }
    return ok && v.EndTable();
  }
};

inline bool CurveVector::Verify(Verifier& v) const {
  if (!VerifyTableStart(v) || !VerifyField<int32_t>(v, field(0), 4) || !VerifyOffset(v, field(1))) return false;
  const auto* c = curves();
  if (c && (!v.VerifyVector(c) || !v.VerifyVectorOfTables(c))) return false;
  return v.EndTable();
}

} // namespace mx::io::fb
