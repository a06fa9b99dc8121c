"""Augmentation ops (docs/data_contract.md "Augmentation"): image and objects transformed together.

Ops work on a :class:`Canvas` and come in three kinds, as in the seed system:
- affine (``hflip``, ``vflip``, ``rotate``): nothing is resampled yet; the op's exact map is
  composed into the canvas's pending affine, whose virtual canvas grows to hold all of the image
  (a rotation never cuts corners);
- colour (``color`` and :data:`~.aug_color.COLOR_OPS`): pixels only, applied at once to the image
  as it is (before a pending warp, so padding added later stays exactly middle gray);
- barrier (``scale``, ``crop``, ``roi_crop``, ``resize_by_scale``, ``expand_to_fit_affine``): the
  pending affine is flushed first (one warp, middle-gray fill), then the op resamples or cuts.
``expand_to_fit_affine`` folds its own scale-down into the pending warp, pads to its multiple
(content top-left, padding right/bottom) and caps the pixel count. Coordinates move with
:mod:`src.datasets.geometry` / :mod:`src.datasets.crop_geometry` through the same maps as the pixels.
Each op function reads its typed config (the op's model in ``src/config/schema_augmentation.py``, as
validated at load or ramped by the curriculum). Randomness comes only from the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

from src.config.schema_augmentation import (
    AugmentationOp,
    ColorOp,
    CropOp,
    ExpandToFitAffineOp,
    HFlipOp,
    ResizeOp,
    RoiCropOp,
    RotateOp,
    VFlipOp,
)
from src.datasets import crop_geometry as CG
from src.datasets import geometry
from src.datasets.aug_color import COLOR_OPS

Objects = list[dict[str, Any]]
Fill = int | tuple[int, ...]
MIDDLE_GRAY = 128  # padding value: ~0 after Qwen3-VL's (x / 255 - 0.5) / 0.5 normalisation
CROP_ATTEMPTS = 10  # windows tried before a crop that would drop every object is skipped


def fill_for(image: Image.Image) -> Fill:
    """Middle gray in the image's mode."""
    bands = len(image.getbands())
    if bands == 1:
        return MIDDLE_GRAY
    return (MIDDLE_GRAY,) * 3 + ((255,) if bands == 4 else ())


def copy_objects(objects: Sequence[Any]) -> Objects:
    """New dicts with new coordinate lists (callers may mutate the result freely)."""
    out = []
    for obj in objects:
        new = dict(geometry.as_object_dict(obj))
        for key in geometry.GEOMETRY_KEYS:
            if key in new:
                new[key] = list(new[key])
        out.append(new)
    return out


@dataclass
class OpOutput:
    image: Image.Image
    objects: Objects
    params: dict[str, Any] = field(default_factory=dict)  # what was sampled (telemetry / debug)
    skipped: str | None = None  # reason when the op was drawn but left the sample unchanged


@dataclass
class Canvas:
    """The sample being augmented: the image, its objects, and a pending (not yet applied) affine
    that maps the image onto a ``size`` canvas."""

    image: Image.Image
    objects: Objects
    pending: geometry.Affine | None = None
    size: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.pending is None:
            self.size = self.image.size

    def push(self, affine: geometry.Affine, size: tuple[int, int]) -> None:
        self.pending = affine if self.pending is None else self.pending.then(affine)
        self.size = size

    def flush(self) -> None:
        """Apply the pending affine to pixels and coordinates (one warp, middle-gray fill)."""
        if self.pending is not None:
            self._warp(self.pending, self.size)

    def _warp(self, affine: geometry.Affine, size: tuple[int, int]) -> None:
        self.image = self.image.transform(size, Image.Transform.AFFINE, affine.pil_coefficients(),
                                          resample=Image.Resampling.BILINEAR, fillcolor=fill_for(self.image))
        self.objects = geometry.apply_affine(self.objects, affine, *size)
        self.pending, self.size = None, size


# ------------------------------------------------------------------------------------------- affine


def _hflip(c: Canvas, op: HFlipOp, rng: np.random.Generator) -> dict[str, Any]:
    c.push(geometry.hflip_affine(*c.size), c.size)
    return {}


def _vflip(c: Canvas, op: VFlipOp, rng: np.random.Generator) -> dict[str, Any]:
    c.push(geometry.vflip_affine(*c.size), c.size)
    return {}


def _rotate(c: Canvas, op: RotateOp, rng: np.random.Generator) -> dict[str, Any]:
    degrees = float(rng.uniform(-op.max_degrees, op.max_degrees))
    rot = geometry.rotation(*c.size, degrees)
    c.push(rot.affine, (rot.width, rot.height))
    return {"degrees": degrees, "width": rot.width, "height": rot.height}


AFFINE: dict[str, Callable[[Canvas, Any, np.random.Generator], dict[str, Any]]] = {
    "hflip": _hflip, "vflip": _vflip, "rotate": _rotate,
}

# ------------------------------------------------------------------------------------------- colour


def _color(image: Image.Image, op: ColorOp, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """Brightness, contrast, saturation (in that order), each factor uniform in ``[1 - v, 1 + v]``."""
    factors = {
        k: float(rng.uniform(1.0 - v, 1.0 + v))
        for k, v in (("brightness", op.brightness), ("contrast", op.contrast), ("saturation", op.saturation))
    }
    out = ImageEnhance.Brightness(image).enhance(factors["brightness"])
    out = ImageEnhance.Contrast(out).enhance(factors["contrast"])
    if out.mode in ("RGB", "RGBA"):
        out = ImageEnhance.Color(out).enhance(factors["saturation"])
    return out, factors


COLOUR = {"color": _color, **COLOR_OPS}

# ------------------------------------------------------------------------------------------- barriers


def _resize(image: Image.Image, objects: Objects, factor: float, multiple: int) -> OpOutput:
    w, h = image.size
    nw, nh = geometry.scaled_size(w, h, factor, multiple)
    params = {"factor": factor, "width": nw, "height": nh}
    if (nw, nh) == (w, h):
        return OpOutput(image, objects, params)
    return OpOutput(image.resize((nw, nh), Image.Resampling.BILINEAR), geometry.resize(objects, w, h, nw, nh), params)


def _resize_op(image: Image.Image, objects: Objects, op: ResizeOp, rng: np.random.Generator) -> OpOutput:
    """`scale` and `resize_by_scale`: one resize, two spellings of its parameters."""
    return _resize(image, objects, float(rng.uniform(*op.factors)), int(op.multiple))


def _crop(image: Image.Image, objects: Objects, op: CropOp, rng: np.random.Generator) -> OpOutput:
    """Random window with sides ``scale * (w, h)``; objects under ``min_coverage`` are dropped.

    A window that would drop every object of a non-empty sample is redrawn, up to ``CROP_ATTEMPTS``
    times; after that the crop is skipped (recorded as ``skipped``) rather than emptying the sample.
    """
    w, h = image.size
    for attempt in range(CROP_ATTEMPTS):
        s = float(rng.uniform(op.min_scale, op.max_scale))
        cw = min(w, max(1, math.floor(w * s + 0.5)))
        ch = min(h, max(1, math.floor(h * s + 0.5)))
        left = int(rng.integers(0, w - cw + 1))
        top = int(rng.integers(0, h - ch + 1))
        window = (left, top, left + cw, top + ch)
        res = geometry.crop(objects, window, op.min_coverage)
        if res.objects or not objects:
            params = {"scale": s, "window": window, "dropped": len(objects) - len(res.kept), "attempts": attempt + 1}
            return OpOutput(image.crop(window), res.objects, params)
    return OpOutput(image, objects, {"attempts": CROP_ATTEMPTS}, skipped="every window dropped all objects")


def _roi_crop(image: Image.Image, objects: Objects, op: RoiCropOp, rng: np.random.Generator) -> OpOutput:
    """Crop around one anchor object chosen uniformly (see :mod:`~.crop_geometry`); skipped, unchanged,
    when no object is an anchor or the window would be the whole image."""
    anchors = [i for i, o in enumerate(objects) if CG.is_anchor(o, op.anchor_classes)]
    if not anchors:
        return OpOutput(image, objects, {}, skipped="no_anchor")
    anchor = anchors[int(rng.integers(len(anchors)))]
    s = float(rng.uniform(*op.scale_range))
    w, h = image.size
    window = CG.roi_window(CG.bounds(objects[anchor]), s, float(op.min_crop_size), w, h)
    params: dict[str, Any] = {"anchor": anchor, "scale": s, "window": window}
    if window == (0, 0, w, h):
        return OpOutput(image, objects, params, skipped="full_image")
    res = CG.roi_crop(objects, window, float(op.min_coverage), float(op.completeness_threshold))
    params.update(dropped=len(objects) - len(res.kept), marked=len(res.marked))
    return OpOutput(image.crop(window), res.objects, params)


BARRIER: dict[str, Callable[[Image.Image, Objects, Any, np.random.Generator], OpOutput]] = {
    "scale": _resize_op, "crop": _crop, "roi_crop": _roi_crop, "resize_by_scale": _resize_op,
}


def _expand_to_fit_affine(c: Canvas, op: ExpandToFitAffineOp) -> dict[str, Any]:
    """Flush onto the full (expanded) canvas, pad to ``multiple``, cap at ``max_pixels`` (see module doc)."""
    vw, vh = c.size
    cw, ch, pw, ph = CG.fit_canvas(vw, vh, int(op.multiple), int(op.max_pixels))
    params = {"width": pw, "height": ph, "content": (cw, ch)}
    if c.pending is not None:
        shrink = geometry.Affine(cw / vw, 0.0, 0.0, 0.0, ch / vh, 0.0)
        c._warp(c.pending if (cw, ch) == (vw, vh) else c.pending.then(shrink), (pw, ph))
        return params
    if (cw, ch) != (vw, vh):
        c.image = c.image.resize((cw, ch), Image.Resampling.BILINEAR)
        c.objects = geometry.resize(c.objects, vw, vh, cw, ch)
    if (pw, ph) != (cw, ch):
        padded = Image.new(c.image.mode, (pw, ph), fill_for(c.image))
        padded.paste(c.image, (0, 0))
        c.image = padded
    c.size = (pw, ph)
    return params


def run_op(op: AugmentationOp, canvas: Canvas, rng: np.random.Generator) -> tuple[dict, str | None]:
    """Apply ``op`` (its typed config) to ``canvas`` in place; returns ``(sampled parameters, skip reason
    or None)``."""
    name = op.name
    if name in AFFINE:
        return AFFINE[name](canvas, op, rng), None
    if name in COLOUR:
        canvas.image, sampled = COLOUR[name](canvas.image, op, rng)
        return sampled, None
    canvas.flush()
    if name == "expand_to_fit_affine":
        return _expand_to_fit_affine(canvas, op), None
    out = BARRIER[name](canvas.image, canvas.objects, op, rng)
    canvas.image, canvas.objects, canvas.size = out.image, out.objects, out.image.size
    return out.params, out.skipped
