"""Pure geometry of the ROI crop and of the final canvas fit (ops `roi_crop`, `expand_to_fit_affine`).

Frame and conventions as in :mod:`src.datasets.geometry`. Unlike ``geometry.crop`` (which clamps
point by point and keeps point counts), an ROI crop clips every object exactly to the window:
- ``bbox_2d``: the intersection box;
- ``poly``: the polygon intersected with the window (Sutherland-Hodgman); the silhouette is kept, the
  vertex count may change, consecutive duplicate vertices are removed; an object fully inside is
  only translated (same vertices, same order);
- ``line``: each segment clipped to the window (Liang-Barsky), the visible pieces joined in order,
  consecutive duplicates removed; fewer than 2 points left -> dropped.
Coverage is ``geometry.coverage`` (area for boxes/polygons, length for lines). Boxes and polygons
under ``min_coverage`` are dropped; lines are kept whenever a piece is visible. A kept object whose
coverage is under ``completeness_threshold`` gets its ``可见性=完整`` desc token replaced by
``可见性=部分``.
Nothing here imports PIL or numpy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import geometry
from .geometry import Point, Window

ANCHOR_KEY = "类别"
VISIBILITY_KEY = "可见性"
COMPLETE = "完整"
PARTIAL = "部分"


def desc_tokens(desc: str) -> list[str]:
    """Comma-separated ``key=value`` tokens of a structured desc, stripped (``,`` or ``，``)."""
    return [t.strip() for t in desc.replace("，", ",").split(",")]


def is_anchor(obj: Any, anchor_classes: Sequence[str]) -> bool:
    """Whether ``obj``'s desc holds the token ``类别=<c>`` for one of ``anchor_classes`` (exact)."""
    wanted = {f"{ANCHOR_KEY}={c}" for c in anchor_classes}
    return any(t in wanted for t in desc_tokens(str(geometry.as_object_dict(obj)["desc"])))


def mark_partial(desc: str) -> str:
    """``desc`` with its ``可见性=完整`` token (exact) replaced by ``可见性=部分``; other text untouched."""
    complete, partial = f"{VISIBILITY_KEY}={COMPLETE}", f"{VISIBILITY_KEY}={PARTIAL}"
    parts = desc.split(",")
    return ",".join(p.replace(complete, partial) if p.strip() == complete else p for p in parts)


def bounds(obj: Any) -> tuple[float, float, float, float]:
    """Axis-aligned bounding box ``(x1, y1, x2, y2)`` of any geometry."""
    obj = geometry.as_object_dict(obj)
    pts = geometry.points_of(obj[geometry.geometry_key(obj)])
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def roi_window(anchor: tuple[float, float, float, float], scale: float, min_crop_size: float,
               width: int, height: int) -> Window:
    """Integer window centred on the anchor box, sides ``max(anchor side x scale, min_crop_size)``
    rounded up, at most the image, shifted (not shrunk) to lie inside the image."""
    x1, y1, x2, y2 = anchor

    def side(extent: float, limit: int) -> int:
        return max(1, min(limit, math.ceil(max(extent * scale, min_crop_size))))

    def start(lo: float, hi: float, size: int, limit: int) -> int:
        return min(max(0, math.floor((lo + hi - size) / 2.0 + 0.5)), limit - size)

    cw, ch = side(x2 - x1, width), side(y2 - y1, height)
    left, top = start(x1, x2, cw, width), start(y1, y2, ch, height)
    return left, top, left + cw, top + ch


def _dedupe(points: Sequence[Point], closed: bool) -> list[Point]:
    out: list[Point] = []
    for p in points:
        if not out or p != out[-1]:
            out.append(p)
    if closed and len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def _clip_line(points: Sequence[Point], window: Sequence[float]) -> list[Point]:
    pieces: list[Point] = []
    for p, q in itertools.pairwise(points):
        seg = geometry.clip_segment(p, q, window)
        if seg is not None:
            pieces.extend(seg)
    return _dedupe(pieces, closed=False)


def clip_object(obj: Any, window: Window) -> dict[str, Any] | None:
    """``obj`` clipped to ``window`` and moved into its frame; ``None`` when nothing usable is left."""
    obj = geometry.as_object_dict(obj)
    key = geometry.geometry_key(obj)
    left, top, right, bottom = window
    pts = geometry.points_of(obj[key])
    if key == "bbox_2d":
        (x1, y1), (x2, y2) = pts
        box = (max(x1, left), max(y1, top), min(x2, right), min(y2, bottom))
        if box[0] > box[2] or box[1] > box[3]:
            return None
        clipped = [(box[0], box[1]), (box[2], box[3])]
    elif all(left <= x <= right and top <= y <= bottom for x, y in pts):
        clipped = pts
    elif key == "poly":
        clipped = _dedupe(geometry.clip_polygon(pts, window), closed=True)
        if len(clipped) < 3:
            return None
    else:
        clipped = _clip_line(pts, window)
        if len(clipped) < 2:
            return None
    out = dict(obj)
    out[key] = [float(v) for x, y in clipped for v in (x - left, y - top)]
    return out


@dataclass(frozen=True)
class RoiCropResult:
    objects: list[dict[str, Any]]  # kept objects, clipped, in the window's frame
    kept: list[int]  # input indices of the kept objects, in input order
    coverages: list[float]  # coverage of every input object
    marked: list[int]  # input indices whose desc was marked partial
    width: int
    height: int


def roi_crop(objects: Sequence[Any], window: Window, min_coverage: float,
             completeness_threshold: float) -> RoiCropResult:
    """Crop ``objects`` to ``window`` by the module's rules (coverage filter, exact clip, marker)."""
    left, top, right, bottom = window
    if right <= left or bottom <= top:
        raise ValueError(f"empty crop window {tuple(window)}")
    kept: list[int] = []
    marked: list[int] = []
    out: list[dict[str, Any]] = []
    covs = [geometry.coverage(o, window) for o in objects]
    for i, (obj, cov) in enumerate(zip(objects, covs)):
        is_line = geometry.geometry_key(geometry.as_object_dict(obj)) == "line"
        if cov <= 0.0 or (cov < min_coverage and not is_line):
            continue
        clipped = clip_object(obj, window)
        if clipped is None:
            continue
        if cov < completeness_threshold and "desc" in clipped:
            new_desc = mark_partial(str(clipped["desc"]))
            if new_desc != clipped["desc"]:
                clipped["desc"] = new_desc
                marked.append(i)
        kept.append(i)
        out.append(clipped)
    return RoiCropResult(out, kept, covs, marked, right - left, bottom - top)


def fit_canvas(width: int, height: int, multiple: int, max_pixels: int) -> tuple[int, int, int, int]:
    """``(content_w, content_h, canvas_w, canvas_h)`` for ``expand_to_fit_affine``.

    The canvas is the content padded up to multiples of ``multiple``. While that exceeds
    ``max_pixels``, the side with more room (the larger ``canvas side / content side``; the width on
    a tie) loses one cell; the content is then scaled uniformly to fit inside the canvas (each side
    rounded half up, at least 1 pixel).
    """
    if multiple <= 0 or max_pixels < multiple * multiple:
        raise ValueError(f"need multiple > 0 and max_pixels >= multiple**2, got {multiple}, {max_pixels}")
    kw, kh = -(-width // multiple), -(-height // multiple)
    if kw * kh * multiple * multiple <= max_pixels:
        return width, height, kw * multiple, kh * multiple
    while kw * kh * multiple * multiple > max_pixels:
        if (kw > 1 and kw * multiple / width >= kh * multiple / height) or kh == 1:
            kw -= 1
        else:
            kh -= 1
    cw, ch = kw * multiple, kh * multiple
    f = min(cw / width, ch / height)
    return min(cw, max(1, math.floor(width * f + 0.5))), min(ch, max(1, math.floor(height * f + 0.5))), cw, ch
