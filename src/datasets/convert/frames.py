"""Each format's coordinate convention -> the record contract's continuous pixel frame.

The contract (docs/data_contract.md): the image spans ``[0, W] x [0, H]``; pixel ``(i, j)`` (0-based)
covers ``[i, i+1) x [j, j+1)``. Pure functions, pinned by tests/datasets/convert/test_frames.py.

* COCO / LVIS ``bbox`` ``[x, y, w, h]`` and polygons: floats already in this frame.
* YOLO: ``cx cy w h`` (and segment points) normalised by the image size.
* Pascal VOC: 1-based integer pixel indices of the first and last covered pixel (inclusive):
  ``xmin=1`` is pixel 0, which starts at 0; ``xmax`` is the last pixel, which ends at ``xmax``.
* LabelMe and ODVG: points / ``[x1, y1, x2, y2]`` in pixels of this frame, as written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Box = tuple[float, float, float, float]


def coco_box(x: float, y: float, w: float, h: float) -> Box:
    return (x, y, x + w, y + h)


def yolo_box(cx: float, cy: float, w: float, h: float, width: int, height: int) -> Box:
    return (cx * width - w * width / 2, cy * height - h * height / 2,
            cx * width + w * width / 2, cy * height + h * height / 2)


def yolo_points(values: Sequence[float], width: int, height: int) -> tuple[float, ...]:
    return tuple(v * (width if k % 2 == 0 else height) for k, v in enumerate(values))


def voc_box(xmin: float, ymin: float, xmax: float, ymax: float) -> Box:
    return (xmin - 1, ymin - 1, xmax, ymax)


def corners_box(points: Sequence[Sequence[float]]) -> Box:
    """The box of two opposite corners written in any order (LabelMe rectangles)."""
    (ax, ay), (bx, by) = points
    return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def polygon_area(coords: Sequence[float]) -> float:
    xs, ys = coords[0::2], coords[1::2]
    n = len(xs)
    return abs(sum(xs[k] * ys[(k + 1) % n] - xs[(k + 1) % n] * ys[k] for k in range(n))) / 2


def join_polygons(parts: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """One polygon for an object drawn as several (COCO's occluded objects).

    The largest part is walked first; every other part hangs off its first vertex by a
    zero-width bridge (walked there and back), so the outline encloses exactly the union of the
    parts (under the even-odd and the non-zero rule alike) and its bounding box is theirs.
    """
    parts = sorted((list(p) for p in parts), key=polygon_area, reverse=True)
    ax, ay = parts[0][0], parts[0][1]
    out = list(parts[0]) + [ax, ay]
    for part in parts[1:]:
        k = min(range(0, len(part), 2), key=lambda i: math.hypot(part[i] - ax, part[i + 1] - ay))
        ring = part[k:] + part[:k]
        out += ring + ring[:2] + [ax, ay]
    return tuple(out)
