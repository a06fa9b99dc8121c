"""Draw a sample's objects (boxes, polygons, lines, desc labels) on its image with PIL."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from src.datasets.records import DenseObject, as_dense_object

PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40),
)


def desc_colour(desc: str) -> tuple[int, int, int]:
    """A stable colour per desc (same desc, same colour, across runs)."""
    return PALETTE[zlib.crc32(desc.encode("utf-8")) % len(PALETTE)]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def render_sample(image: Image.Image, objects: Iterable[DenseObject | Mapping[str, Any]],
                  *, line_width: int = 2, label: bool = True) -> Image.Image:
    """A copy of ``image`` (RGB) with every object drawn in pixel coordinates and labelled."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    font = _font(max(10, min(canvas.size) // 24))
    labels = []
    for obj in map(as_dense_object, objects):
        colour = desc_colour(obj.desc)
        pts = obj.points
        if obj.kind == "bbox_2d":
            draw.rectangle(obj.coords, outline=colour, width=line_width)
        elif obj.kind == "poly":
            draw.line([*pts, pts[0]], fill=colour, width=line_width, joint="curve")
        else:
            draw.line(pts, fill=colour, width=line_width, joint="curve")
            r = line_width + 1
            for x, y in (pts[0], pts[-1]):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        x1, y1, _, _ = obj.bounds
        labels.append((x1, y1, obj.desc, colour))
    if label:  # labels last so that shapes never cover them
        for x1, y1, text, colour in labels:
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            tw, th = right - left, bottom - top
            tx = min(max(0, x1), max(0, canvas.width - tw - 4))
            ty = y1 - th - 4 if y1 - th - 4 >= 0 else y1
            draw.rectangle((tx, ty, tx + tw + 4, ty + th + 4), fill=colour)
            r, g, b = colour
            ink = (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)
            draw.text((tx + 2 - left, ty + 2 - top), text, fill=ink, font=font)
    return canvas
