"""Pure geometry on record objects (``{"desc", "bbox_2d" | "poly" | "line"}``, docs/CONTRACTS.md).

Coordinate frame: continuous pixel coordinates, the image spans ``[0, width] x [0, height]``; pixel
``(i, j)`` covers ``[i, i + 1) x [j, j + 1)``. This is the frame PIL's ``transpose``, ``crop``,
``resize`` and ``transform`` use, so every function here maps a coordinate exactly where the matching
PIL image op moves the pixel under it (tests check this against transformed rendered masks).

Invariants of every transform:
- objects are new dicts (inputs are never mutated); keys other than the geometry are copied as is;
- a ``poly``/``line`` keeps its point count and point order; a ``bbox_2d`` stays ``[x1, y1, x2, y2]``
  with ``x1 <= x2`` and ``y1 <= y2``;
- under a general affine map (rotation) a ``bbox_2d`` becomes the axis-aligned box of its four mapped
  corners (a loose box: it contains the rotated rectangle, it is not the box of the object's pixels);
- results are clamped into the output canvas (a no-op up to float rounding except for ``crop``).

Nothing here imports torch or PIL.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from src.constants import GEOMETRY_KEYS, IMAGE_SIZE_MULTIPLE

Point = tuple[float, float]
_Matrix = tuple[float, float, float, float, float, float]
Window = tuple[int, int, int, int]  # (left, top, right, bottom), pixels, right/bottom exclusive


def as_object_dict(obj: Any) -> Mapping[str, Any]:
    """A mapping view of an object: mappings as is, anything with ``to_dict()`` (e.g.
    ``records.DenseObject``) converted."""
    if isinstance(obj, Mapping):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"expected an object mapping or something with to_dict(), got {type(obj).__name__}")
    return to_dict()


def geometry_key(obj: Mapping[str, Any]) -> str:
    """The single geometry key of ``obj``; ``ValueError`` when there is none or more than one."""
    keys = [k for k in GEOMETRY_KEYS if k in obj]
    if len(keys) != 1:
        raise ValueError(f"object must carry exactly one of {GEOMETRY_KEYS}, found {keys or 'none'}: {obj!r}")
    key = keys[0]
    coords = obj[key]
    if len(coords) % 2:
        raise ValueError(f"{key} needs an even number of coordinates, got {len(coords)}")
    if key == "bbox_2d" and len(coords) != 4:
        raise ValueError(f"bbox_2d needs 4 coordinates, got {len(coords)}")
    return key


def points_of(coords: Sequence[float]) -> list[Point]:
    """Flat ``[x1, y1, x2, y2, ...]`` -> ``[(x1, y1), (x2, y2), ...]``."""
    return [(float(coords[i]), float(coords[i + 1])) for i in range(0, len(coords), 2)]


def flatten(points: Iterable[Point]) -> list[float]:
    return [float(v) for p in points for v in p]


def _with_geometry(obj: Mapping[str, Any], key: str, coords: list[float]) -> dict[str, Any]:
    out = dict(obj)
    out[key] = coords
    return out


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else min(v, hi)


# --------------------------------------------------------------------------------------------------
# Affine maps
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Affine:
    """Forward map ``x' = a*x + b*y + c``, ``y' = d*x + e*y + f`` (input frame -> output frame)."""

    a: float
    b: float
    c: float
    d: float
    e: float
    f: float

    def __call__(self, x: float, y: float) -> Point:
        return (self.a * x + self.b * y + self.c, self.d * x + self.e * y + self.f)

    def inverse(self) -> Affine:
        det = self.a * self.e - self.b * self.d
        if det == 0:
            raise ValueError("affine map is singular")
        ia, ib, id_, ie = self.e / det, -self.b / det, -self.d / det, self.a / det
        return Affine(ia, ib, -(ia * self.c + ib * self.f), id_, ie, -(id_ * self.c + ie * self.f))

    def then(self, other: Affine) -> Affine:
        """``other`` applied after ``self``."""
        return Affine(
            other.a * self.a + other.b * self.d,
            other.a * self.b + other.b * self.e,
            other.a * self.c + other.b * self.f + other.c,
            other.d * self.a + other.e * self.d,
            other.d * self.b + other.e * self.e,
            other.d * self.c + other.e * self.f + other.f,
        )

    def pil_coefficients(self) -> tuple[float, float, float, float, float, float]:
        """Coefficients for ``PIL.Image.transform(size, Transform.AFFINE, data=...)`` (output -> input)."""
        inv = self.inverse()
        return (inv.a, inv.b, inv.c, inv.d, inv.e, inv.f)


def apply_affine(objects: Sequence[Any], affine: Affine, width: int, height: int) -> list[dict[str, Any]]:
    """Map every object through ``affine`` into a ``width`` x ``height`` canvas.

    ``poly``/``line``: each point is mapped (count and order kept). ``bbox_2d``: the axis-aligned box of
    its four mapped corners. Every coordinate is clamped into ``[0, width] x [0, height]``.
    """
    out: list[dict[str, Any]] = []
    for raw in objects:
        obj = as_object_dict(raw)
        key = geometry_key(obj)
        coords = obj[key]
        if key == "bbox_2d":
            x1, y1, x2, y2 = (float(v) for v in coords)
            corners = [affine(x, y) for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
            xs = [p[0] for p in corners]
            ys = [p[1] for p in corners]
            mapped = [
                _clamp(min(xs), 0.0, width),
                _clamp(min(ys), 0.0, height),
                _clamp(max(xs), 0.0, width),
                _clamp(max(ys), 0.0, height),
            ]
        else:
            mapped = flatten(
                (_clamp(px, 0.0, width), _clamp(py, 0.0, height))
                for px, py in (affine(x, y) for x, y in points_of(coords))
            )
        out.append(_with_geometry(obj, key, mapped))
    return out


# --------------------------------------------------------------------------------------------------
# Flips, rotation, scaling
# --------------------------------------------------------------------------------------------------


def hflip_affine(width: int, height: int) -> Affine:
    return Affine(-1.0, 0.0, float(width), 0.0, 1.0, 0.0)


def vflip_affine(width: int, height: int) -> Affine:
    return Affine(1.0, 0.0, 0.0, 0.0, -1.0, float(height))


def hflip(objects: Sequence[Any], width: int, height: int) -> list[dict[str, Any]]:
    """Mirror left-right (``PIL.Image.Transpose.FLIP_LEFT_RIGHT``): ``x -> width - x``."""
    return apply_affine(objects, hflip_affine(width, height), width, height)


def vflip(objects: Sequence[Any], width: int, height: int) -> list[dict[str, Any]]:
    """Mirror top-bottom (``PIL.Image.Transpose.FLIP_TOP_BOTTOM``): ``y -> height - y``."""
    return apply_affine(objects, vflip_affine(width, height), width, height)


_QUARTER_TURNS: dict[float, Any] = {
    # output -> input matrices of Transpose.ROTATE_90 / ROTATE_180 / ROTATE_270 (counter-clockwise)
    0.0: lambda w, h: ((1.0, 0.0, 0.0, 0.0, 1.0, 0.0), w, h),
    90.0: lambda w, h: ((0.0, -1.0, float(w), 1.0, 0.0, 0.0), h, w),
    180.0: lambda w, h: ((-1.0, 0.0, float(w), 0.0, -1.0, float(h)), w, h),
    270.0: lambda w, h: ((0.0, 1.0, 0.0, -1.0, 0.0, float(h)), h, w),
}


@dataclass(frozen=True)
class Rotation:
    """A rotation about the image centre on an expanded canvas (nothing is cut)."""

    degrees: float
    width: int  # new canvas
    height: int
    affine: Affine  # forward map, input frame -> output frame
    pil_matrix: _Matrix  # PIL's own output -> input matrix


def rotation(width: int, height: int, degrees: float) -> Rotation:
    """Counter-clockwise rotation by ``degrees`` about the centre, canvas expanded.

    Reproduces ``PIL.Image.rotate(degrees, expand=True)`` exactly: the same rounded matrix and the same
    canvas size (``ceil(max) - floor(min)`` of the mapped corners; quarter turns use PIL's exact
    transpose path, e.g. 90 degrees maps ``(x, y) -> (y, width - x)``). ``pil_matrix`` is bit for bit the
    matrix PIL uses (feed it to ``Image.transform``); ``affine`` is its exact inverse for coordinates.
    """
    w, h = int(width), int(height)
    turn = float(degrees) % 360.0
    if turn in _QUARTER_TURNS:  # PIL takes an exact transpose path for these: match it
        pil, nw, nh = _QUARTER_TURNS[turn](w, h)
        backward = Affine(*pil)
        return Rotation(
            degrees=float(degrees), width=nw, height=nh, affine=backward.inverse(), pil_matrix=pil
        )
    rad = -math.radians(turn)
    m = [
        round(math.cos(rad), 15),
        round(math.sin(rad), 15),
        0.0,
        round(-math.sin(rad), 15),
        round(math.cos(rad), 15),
        0.0,
    ]

    def tf(x: float, y: float) -> Point:
        return (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])

    cx, cy = w / 2, h / 2
    m[2], m[5] = tf(-cx, -cy)
    m[2] += cx
    m[5] += cy
    corners = [tf(x, y) for x, y in ((0, 0), (w, 0), (w, h), (0, h))]
    nw = math.ceil(max(p[0] for p in corners)) - math.floor(min(p[0] for p in corners))
    nh = math.ceil(max(p[1] for p in corners)) - math.floor(min(p[1] for p in corners))
    m[2], m[5] = tf(-(nw - w) / 2.0, -(nh - h) / 2.0)
    backward = Affine(*m)  # output -> input, as PIL samples
    return Rotation(
        degrees=float(degrees),
        width=int(nw),
        height=int(nh),
        affine=backward.inverse(),
        pil_matrix=(m[0], m[1], m[2], m[3], m[4], m[5]),
    )


def rotate(
    objects: Sequence[Any], width: int, height: int, degrees: float
) -> tuple[list[dict[str, Any]], int, int]:
    """Rotate objects like ``PIL.Image.rotate(degrees, expand=True)``; returns ``(objects, new_w, new_h)``.

    A ``bbox_2d`` becomes the axis-aligned box of its four rotated corners.
    """
    rot = rotation(width, height, degrees)
    return apply_affine(objects, rot.affine, rot.width, rot.height), rot.width, rot.height


def scaled_size(width: int, height: int, factor: float, multiple: int = IMAGE_SIZE_MULTIPLE) -> tuple[int, int]:
    """``(width, height) * factor`` with each side rounded to the nearest multiple (at least one multiple)."""
    if factor <= 0:
        raise ValueError(f"scale factor must be positive, got {factor}")

    def side(v: int) -> int:
        return max(multiple, math.floor(v * factor / multiple + 0.5) * multiple)

    return side(width), side(height)


def resize(
    objects: Sequence[Any], width: int, height: int, new_width: int, new_height: int
) -> list[dict[str, Any]]:
    """Objects of a ``width`` x ``height`` image resized to ``new_width`` x ``new_height``.

    Each axis is scaled by its exact ratio (``new_width / width``, ``new_height / height``), which is
    how ``PIL.Image.resize`` maps the continuous frame.
    """
    sx, sy = new_width / width, new_height / height
    return apply_affine(objects, Affine(sx, 0.0, 0.0, 0.0, sy, 0.0), new_width, new_height)


# --------------------------------------------------------------------------------------------------
# Clipping and coverage
# --------------------------------------------------------------------------------------------------


def polygon_area(points: Sequence[Point]) -> float:
    """Absolute shoelace area."""
    n = len(points)
    s = 0.0
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def clip_polygon(points: Sequence[Point], window: Sequence[float]) -> list[Point]:
    """Sutherland-Hodgman clip of a (simple) polygon against an axis-aligned window.

    Exact for convex and concave simple polygons (a concave result may contain zero-width bridges
    along the window edge, which add no area).
    """
    left, top, right, bottom = (float(v) for v in window)

    def clip(pts: list[Point], inside, intersect) -> list[Point]:
        res: list[Point] = []
        if not pts:
            return res
        prev = pts[-1]
        for cur in pts:
            if inside(cur):
                if not inside(prev):
                    res.append(intersect(prev, cur))
                res.append(cur)
            elif inside(prev):
                res.append(intersect(prev, cur))
            prev = cur
        return res

    def at_x(xv: float):
        def f(p: Point, q: Point) -> Point:
            t = (xv - p[0]) / (q[0] - p[0])
            return (xv, p[1] + t * (q[1] - p[1]))

        return f

    def at_y(yv: float):
        def f(p: Point, q: Point) -> Point:
            t = (yv - p[1]) / (q[1] - p[1])
            return (p[0] + t * (q[0] - p[0]), yv)

        return f

    pts = list(points)
    pts = clip(pts, lambda p: p[0] >= left, at_x(left))
    pts = clip(pts, lambda p: p[0] <= right, at_x(right))
    pts = clip(pts, lambda p: p[1] >= top, at_y(top))
    pts = clip(pts, lambda p: p[1] <= bottom, at_y(bottom))
    return pts


def clip_segment(p: Point, q: Point, window: Sequence[float]) -> tuple[Point, Point] | None:
    """Liang-Barsky clip of segment ``p -> q`` to the window; ``None`` when it misses."""
    left, top, right, bottom = (float(v) for v in window)
    dx, dy = q[0] - p[0], q[1] - p[1]
    t0, t1 = 0.0, 1.0
    for pk, qk in ((-dx, p[0] - left), (dx, right - p[0]), (-dy, p[1] - top), (dy, bottom - p[1])):
        if pk == 0:
            if qk < 0:
                return None
            continue
        t = qk / pk
        if pk < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return (p[0] + t0 * dx, p[1] + t0 * dy), (p[0] + t1 * dx, p[1] + t1 * dy)


def _polyline_coverage(points: Sequence[Point], window: Sequence[float], closed: bool) -> float:
    segs = list(itertools.pairwise(points))
    if closed and len(points) > 2:
        segs.append((points[-1], points[0]))
    total = sum(math.dist(p, q) for p, q in segs)
    if total == 0.0:
        left, top, right, bottom = window
        x, y = points[0]
        return 1.0 if left <= x <= right and top <= y <= bottom else 0.0
    kept = 0.0
    for p, q in segs:
        c = clip_segment(p, q, window)
        if c is not None:
            kept += math.dist(*c)
    return kept / total


def coverage(obj: Any, window: Sequence[float]) -> float:
    """Visible fraction of ``obj`` inside ``window`` = ``(left, top, right, bottom)``, in ``[0, 1]``.

    ``bbox_2d``: intersection area / box area; ``poly``: area of the polygon clipped to the window /
    polygon area (exact, Sutherland-Hodgman); ``line``: clipped length / total length. Degenerate
    geometry falls back one dimension (zero-area box or polygon -> outline length; zero-length line
    -> 1 if its point is inside the window, else 0).
    """
    obj = as_object_dict(obj)
    key = geometry_key(obj)
    pts = points_of(obj[key])
    left, top, right, bottom = (float(v) for v in window)
    if key == "bbox_2d":
        x1, y1, x2, y2 = pts[0][0], pts[0][1], pts[1][0], pts[1][1]
        area = (x2 - x1) * (y2 - y1)
        if area <= 0:
            return _polyline_coverage([(x1, y1), (x2, y2)], window, closed=False)
        iw = max(0.0, min(x2, right) - max(x1, left))
        ih = max(0.0, min(y2, bottom) - max(y1, top))
        return min(1.0, iw * ih / area)
    if key == "poly":
        area = polygon_area(pts)
        if area <= 0:
            return _polyline_coverage(pts, window, closed=True)
        return min(1.0, polygon_area(clip_polygon(pts, window)) / area)
    return _polyline_coverage(pts, window, closed=False)


@dataclass(frozen=True)
class CropResult:
    objects: list[dict[str, Any]]  # kept objects, in the crop's frame
    kept: list[int]  # indices (into the input) of the kept objects, in input order
    coverages: list[float]  # coverage of every input object
    width: int
    height: int


def crop(objects: Sequence[Any], window: Sequence[int], min_coverage: float) -> CropResult:
    """Crop to ``window`` = ``(left, top, right, bottom)`` (integers, like ``PIL.Image.crop``).

    An object is kept when its coverage (see :func:`coverage`) is > 0 and >= ``min_coverage``; kept
    objects are translated by ``(-left, -top)`` and clamped into the window point by point (point
    count and order never change; a box is clamped to its exact intersection with the window).
    """
    left, top, right, bottom = window
    if any(int(v) != v for v in window):
        raise ValueError(f"crop window must be integral pixels, got {tuple(window)}")
    left, top, right, bottom = int(left), int(top), int(right), int(bottom)
    if right <= left or bottom <= top:
        raise ValueError(f"empty crop window {tuple(window)}")
    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage}")
    w, h = right - left, bottom - top
    shift = Affine(1.0, 0.0, -float(left), 0.0, 1.0, -float(top))
    covs = [coverage(o, (left, top, right, bottom)) for o in objects]
    kept = [i for i, c in enumerate(covs) if c > 0.0 and c >= min_coverage]
    out = apply_affine([objects[i] for i in kept], shift, w, h)
    return CropResult(objects=out, kept=kept, coverages=covs, width=w, height=h)
