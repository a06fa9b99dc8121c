"""The image size the model actually sees, and fitting pixel-coordinate records to it.

ms-swift's Qwen3-VL template resizes every image it encodes: above ``template.max_pixels`` it
rescales proportionally, then the image processor snaps both sides to its patch grid (patch 16 x
merge 2 = 32 px) within its own ``[min_pixels, max_pixels]`` (transformers' ``smart_resize``).
Coordinates rendered as ``norm1000`` / ``coord_tokens`` do not care; ``pixel`` coordinates do: a
200x120 record whose boxes are written in pixels would be taught on a 192x128 image.

:class:`ImageFrame` predicts that size from the template; :func:`fit_record` resizes the image
to it first, moving every coordinate by the exact per-axis ratio (``geometry.resize``). The
template then finds the image already on its grid and within budget and leaves it as it is (the
size is a fixed point of its resizing), so the target describes exactly the pixels the model sees.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from PIL import Image
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from . import geometry
from .records import DenseObject, Problem, Record, RecordError, RecordSource

NO_LIMIT = 1 << 62


@dataclass(frozen=True)
class ImageFrame:
    factor: int  # side multiple (patch_size * merge_size)
    min_pixels: int
    max_pixels: int  # the smaller of template.max_pixels and the processor's own limit

    @classmethod
    def of_template(cls, template: Any) -> ImageFrame:
        """The frame of an ms-swift Qwen-VL template (its ``max_pixels`` and its image processor)."""
        processor = template.processor
        image_processor = getattr(processor, "image_processor", processor)
        size = getattr(image_processor, "size", None)

        def limit(name: str, edge: str) -> int | None:
            value = getattr(image_processor, name, None)
            if value is None and size is not None:
                value = size.get(edge) if isinstance(size, dict) else getattr(size, edge, None)
            return None if value is None else int(value)

        factor = int(image_processor.patch_size) * int(image_processor.merge_size)
        caps = [v for v in (limit("max_pixels", "longest_edge"), getattr(template, "max_pixels", None)) if v]
        return cls(factor=factor, min_pixels=limit("min_pixels", "shortest_edge") or 0,
                   max_pixels=min(caps) if caps else NO_LIMIT)

    def size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` of an image of this size as the model sees it."""
        h, w = smart_resize(height, width, factor=self.factor, min_pixels=self.min_pixels,
                            max_pixels=self.max_pixels)
        return int(w), int(h)

    def keeps(self, width: int, height: int) -> bool:
        return self.size(width, height) == (width, height)


def fit_record(record: Record, images: list[Image.Image], frame: ImageFrame) -> tuple[Record, list[Image.Image]]:
    """Resize a single-image record's image to the frame's size and its coordinates with it."""
    w, h = frame.size(record.width, record.height)
    if (w, h) == (record.width, record.height):
        return record, images
    if len(images) != 1:
        where = record.source or RecordSource("<unknown>", 0)
        raise RecordError([Problem(where.path, where.line, (
            f"coord_format pixel needs images the template keeps as they are, but this {len(images)}-image "
            f"record is {record.width}x{record.height} and the model would see {w}x{h}; resize its images to "
            f"multiples of {frame.factor} within template.max_pixels, or use coord_format norm1000"))])
    objects = geometry.resize(record.objects, record.width, record.height, w, h)
    image = images[0].resize((w, h), Image.Resampling.BICUBIC)
    return (dataclasses.replace(record, objects=tuple(DenseObject.from_dict(o) for o in objects), width=w, height=h),
            [image])


__all__ = ["ImageFrame", "fit_record"]
