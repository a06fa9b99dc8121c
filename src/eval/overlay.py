"""Overlay pictures: ground truth and predictions drawn on the image (PIL), matched ones marked.

Ground truth is green, predictions are red. Pairs matched one-to-one at IoU >= 0.50 (the same
matching as `match/*@0.50`) are drawn solid; unmatched ground truth (misses) and unmatched
predictions (false positives) are drawn with a dashed outline. Labels: the desc, and for
predictions the score. Small images are scaled up (at least 512 px on the longer side) for reading.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from src.datasets.iou import iou_matrix
from src.datasets.records import DenseObject
from src.rewards.matching import match_at_threshold

GT_COLOUR = (0, 200, 0)
PRED_COLOUR = (230, 20, 20)
MIN_SIDE = 512


def _dashed(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], colour, width: int, dash: float = 6.0) -> None:
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1e-6)
        n = max(int(length // dash), 1)
        for k in range(0, n, 2):
            a, b = k / n, min((k + 1) / n, 1.0)
            draw.line([(x1 + (x2 - x1) * a, y1 + (y2 - y1) * a), (x1 + (x2 - x1) * b, y1 + (y2 - y1) * b)],
                      fill=colour, width=width)


def _outline(obj: DenseObject, scale: float) -> list[tuple[float, float]]:
    if obj.kind == "bbox_2d":
        x1, y1, x2, y2 = (v * scale for v in obj.coords)
        return [(x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1)]
    pts = [(x * scale, y * scale) for x, y in obj.points]
    return pts + pts[:1] if obj.kind == "poly" else pts


def _draw(draw: ImageDraw.ImageDraw, obj: DenseObject, scale: float, colour, matched: bool, label: str,
          below: bool, height: int) -> None:
    pts = _outline(obj, scale)
    if matched:
        draw.line(pts, fill=colour, width=2)
    else:
        _dashed(draw, pts, colour, 2)
    x1, y1, _, y2 = (v * scale for v in obj.bounds)
    if below:  # ground truth: under the object, or inside its bottom edge at the image border
        y = y2 + 1 if y2 + 12 <= height else max(y2 - 11, 0)
    else:
        y = max(y1 - 11, 0)
    draw.text((x1 + 1, y), label, fill=colour)


def render_overlay(image: Image.Image, gts: Sequence[DenseObject], preds: Sequence[Any]) -> Image.Image:
    """``preds`` are ScoredObjects. Returns an RGB picture with a one-line legend on top."""
    scale = max(1.0, MIN_SIDE / max(image.size))
    size = (round(image.width * scale), round(image.height * scale))
    canvas = Image.new("RGB", (size[0], size[1] + 16), (255, 255, 255))
    canvas.paste(image.convert("RGB").resize(size, Image.Resampling.NEAREST), (0, 16))
    pred_objs = [p.obj for p in preds]
    pairs = match_at_threshold(iou_matrix(pred_objs, gts), 0.5) if pred_objs and gts else []
    matched_p, matched_g = {p for p, _ in pairs}, {g for _, g in pairs}
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for k, g in enumerate(gts):
        _draw(draw, g, scale, GT_COLOUR, k in matched_g, g.desc, below=True, height=size[1])
    for k, p in enumerate(preds):
        _draw(draw, p.obj, scale, PRED_COLOUR, k in matched_p, f"{p.obj.desc} {p.score:.2f}", below=False,
              height=size[1])
    canvas.paste(layer, (0, 16), layer)
    legend = ImageDraw.Draw(canvas)
    legend.text((4, 2), f"ground truth ({len(gts)}, {len(matched_g)} matched)", fill=GT_COLOUR)
    legend.text((size[0] // 2, 2), f"predicted ({len(preds)}, {len(matched_p)} matched)", fill=PRED_COLOUR)
    return canvas


def write_overlays(folder: Path, sources: Sequence[tuple[str, int, Any]], images: Sequence[Any]) -> list[Path]:
    """One PNG per ``(dataset, record index, Record)`` and its EvalImage: `<dataset>_<index>.png`."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for (dataset, index, record), im in zip(sources, images):
        with Image.open(record.image_paths()[0]) as src:
            picture = render_overlay(src, im.gts, im.preds)
        target = folder / f"{dataset}_{index:06d}.png"
        picture.save(target)
        out.append(target)
    return out
