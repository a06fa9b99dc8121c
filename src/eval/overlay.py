"""Overlay pictures: ground truth and predictions drawn on the image (PIL), matched ones marked.

Ground truth is green, predictions are red. Pairs matched one-to-one at IoU >= 0.50 (the same
matching as `match/*@0.50`) are drawn solid; unmatched ground truth (misses) and unmatched
predictions (false positives) are drawn with a dashed outline. Every outline has a dark halo and
every label sits in a box of its set's colour, so both stay readable on any image content (red on
red, green on green); the label font grows with the picture. Labels: the desc, and for predictions
the score. Small images are scaled up (at least 512 px on the longer side) for reading.

What the model answered is told apart (`prediction_status`): an output that failed to parse gets an
orange frame, "PARSE FAILED" in the legend and a banner with the reason (the parser's error, a
truncation, the drop reasons); a valid answer with no objects says "no objects predicted". Both
used to look the same ("predicted (0, 0 matched)").
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from src.datasets.iou import iou_matrix
from src.datasets.records import DenseObject
from src.rewards.matching import match_at_threshold

GT_COLOUR = (0, 200, 0)
PRED_COLOUR = (230, 20, 20)
FAIL_COLOUR = (255, 140, 0)  # parse failure: frame, legend and banner
HALO = (0, 0, 0)
MIN_SIDE = 512


@dataclass(frozen=True)
class PredictionStatus:
    failed: bool  # the output did not parse as a valid answer (objects may still have been salvaged)
    message: str | None  # the banner text; None for a valid answer with objects and no drops


def prediction_status(image: Any) -> PredictionStatus:
    """What the model's answer was, from an EvalImage (parse_valid, parse_error, finish_reason, dropped)."""
    n = len(image.preds)
    dropped = ", ".join(f"{reason} x{count}" for reason, count in sorted((image.dropped or {}).items()) if count)
    if image.parse_valid is False:
        completion = getattr(image, "completion", None)
        if completion is not None and not completion.strip():
            reason = "the output is empty"
        elif getattr(image, "parse_error", None):
            reason = image.parse_error
        elif image.finish_reason == "length":
            reason = "the output was cut at the token budget (finish_reason=length)"
        else:
            reason = "not a valid answer" + (f" (dropped: {dropped})" if dropped else "")
        salvaged = f"; {n} object(s) salvaged" if n else "; nothing salvaged"
        return PredictionStatus(True, f"PARSE FAILED: {reason}{salvaged}")
    if n == 0:
        return PredictionStatus(False, "valid answer, no objects predicted"
                                + (f" ({dropped} dropped)" if dropped else ""))
    return PredictionStatus(False, f"{dropped} dropped" if dropped else None)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


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


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour, font) -> tuple[float, float, float, float]:
    """Text in a box of `colour` with a dark border; returns the box."""
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    box = (left - 2, top - 1, right + 2, bottom + 1)
    draw.rectangle(box, fill=colour, outline=HALO)
    draw.text(xy, text, fill=_text_colour(colour), font=font)
    return box


def _draw(draw: ImageDraw.ImageDraw, obj: DenseObject, scale: float, colour, matched: bool, label: str,
          below: bool, height: int, font) -> None:
    pts = _outline(obj, scale)
    line = (lambda c, w: draw.line(pts, fill=c, width=w, joint="curve")) if matched else \
        (lambda c, w: _dashed(draw, pts, c, w))
    line(HALO, 4)  # the halo: a dark edge on each side of the coloured line
    line(colour, 2)
    x1, y1, _, y2 = (v * scale for v in obj.bounds)
    text_h = draw.textbbox((0, 0), label, font=font)[3] + 2
    if below:  # ground truth: under the object, or inside its bottom edge at the image border
        y = y2 + 3 if y2 + 3 + text_h <= height else max(y2 - text_h - 1, 0)
    else:
        y = max(y1 - text_h - 2, 0)
    _label(draw, (x1 + 2, y), label, colour, font)


def _banner(canvas: Image.Image, top: int, text: str, colour, font) -> None:
    draw = ImageDraw.Draw(canvas)
    chars = max(int(canvas.width / max(draw.textlength("M", font=font), 1)), 20)
    y = top + 4
    for line in textwrap.wrap(text, width=chars)[:3]:
        box = _label(draw, (6, y), line, colour, font)
        y = box[3] + 3


def render_overlay(image: Image.Image, gts: Sequence[DenseObject], preds: Sequence[Any],
                   status: PredictionStatus | None = None) -> Image.Image:
    """``preds`` are ScoredObjects; ``status`` (prediction_status) labels a failed or empty answer.
    Returns an RGB picture with a legend on top."""
    scale = max(1.0, MIN_SIDE / max(image.size))
    size = (round(image.width * scale), round(image.height * scale))
    font = _font(max(12, round(max(size) / 42)))
    legend_h = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), "Hg", font=font)[3] + 8
    canvas = Image.new("RGB", (size[0], size[1] + legend_h), (255, 255, 255))
    canvas.paste(image.convert("RGB").resize(size, Image.Resampling.NEAREST), (0, legend_h))
    pred_objs = [p.obj for p in preds]
    pairs = match_at_threshold(iou_matrix(pred_objs, gts), 0.5) if pred_objs and gts else []
    matched_p, matched_g = {p for p, _ in pairs}, {g for _, g in pairs}
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for k, g in enumerate(gts):
        _draw(draw, g, scale, GT_COLOUR, k in matched_g, g.desc, True, size[1], font)
    for k, p in enumerate(preds):
        _draw(draw, p.obj, scale, PRED_COLOUR, k in matched_p, f"{p.obj.desc} {p.score:.2f}", False, size[1], font)
    canvas.paste(layer, (0, legend_h), layer)
    legend = ImageDraw.Draw(canvas)
    _label(legend, (4, 3), f"ground truth ({len(gts)}, {len(matched_g)} matched)", GT_COLOUR, font)
    failed = status is not None and status.failed
    predicted = (f"predicted: PARSE FAILED ({len(preds)} salvaged)" if failed
                 else f"predicted ({len(preds)}, {len(matched_p)} matched)")
    _label(legend, (size[0] // 2, 3), predicted, FAIL_COLOUR if failed else PRED_COLOUR, font)
    if failed:
        legend.rectangle((0, legend_h, size[0] - 1, canvas.height - 1), outline=FAIL_COLOUR, width=4)
    if status is not None and status.message:
        _banner(canvas, legend_h + (4 if failed else 0), status.message, FAIL_COLOUR if failed else (255, 255, 255),
                font)
    return canvas


def write_overlays(folder: Path, sources: Sequence[tuple[str, int, Any]], images: Sequence[Any]) -> list[Path]:
    """One PNG per ``(dataset, record index, Record)`` and its EvalImage: `<dataset>_<index>.png`."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for (dataset, index, record), im in zip(sources, images):
        with Image.open(record.image_paths()[0]) as src:
            picture = render_overlay(src, im.gts, im.preds, prediction_status(im))
        target = folder / f"{dataset}_{index:06d}.png"
        picture.save(target)
        out.append(target)
    return out
