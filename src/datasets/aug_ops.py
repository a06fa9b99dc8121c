"""Augmentation ops (docs/CONTRACTS.md "Augmentation ops"): image and objects transformed together.

Every op is ``op(image, objects, params, rng, fill) -> OpOutput``. Geometric ops move the image with
PIL and the coordinates with :mod:`src.datasets.geometry` using the same map; colour ops never touch
geometry. Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

from src.datasets import geometry

Objects = list[dict[str, Any]]
Fill = int | tuple[int, ...]

# Parameters (besides ``prob``) of each op, all required.
OP_PARAMS: dict[str, tuple[str, ...]] = {
    "hflip": (),
    "vflip": (),
    "rotate": ("max_degrees",),
    "scale": ("min_scale", "max_scale"),
    "crop": ("min_scale", "max_scale", "min_coverage"),
    "color": ("brightness", "contrast", "saturation"),
}
SCALE_MULTIPLE = 32  # scaled sides are multiples of this (Qwen3-VL: patch 16 x merge 2)
CROP_ATTEMPTS = 10  # windows tried before a crop that would drop every object is skipped


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


def validate_params(name: str, params: Mapping[str, float]) -> dict[str, float]:
    """Check an op's parameters; returns them as floats. ``ValueError`` with the reason otherwise."""
    if name not in OP_PARAMS:
        raise ValueError(f"unknown augmentation op {name!r}; valid ops: {sorted(OP_PARAMS)}")
    expected = OP_PARAMS[name]
    unknown = sorted(set(params) - set(expected))
    missing = [k for k in expected if k not in params]
    if unknown:
        raise ValueError(f"augmentation op {name!r}: unknown parameter(s) {unknown}; valid: {list(expected)}")
    if missing:
        raise ValueError(f"augmentation op {name!r}: missing parameter(s) {missing}")
    p = {k: float(params[k]) for k in expected}
    for k, v in p.items():
        if not math.isfinite(v):
            raise ValueError(f"augmentation op {name!r}: {k} must be finite, got {v}")
    if name == "rotate" and not 0.0 <= p["max_degrees"] <= 180.0:
        raise ValueError(f"rotate.max_degrees must be in [0, 180], got {p['max_degrees']}")
    if name in ("scale", "crop") and not 0.0 < p["min_scale"] <= p["max_scale"]:
        raise ValueError(f"{name}: need 0 < min_scale <= max_scale, got {p['min_scale']}, {p['max_scale']}")
    if name == "crop":
        if p["max_scale"] > 1.0:
            raise ValueError(f"crop.max_scale must be <= 1, got {p['max_scale']}")
        if not 0.0 <= p["min_coverage"] <= 1.0:
            raise ValueError(f"crop.min_coverage must be in [0, 1], got {p['min_coverage']}")
    if name == "color":
        for k, v in p.items():
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"color.{k} must be in [0, 1], got {v}")
    return p


def _hflip(
    image: Image.Image, objects: Objects, p: Mapping[str, float], rng: np.random.Generator, fill: Fill
) -> OpOutput:
    w, h = image.size
    return OpOutput(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), geometry.hflip(objects, w, h))


def _vflip(
    image: Image.Image, objects: Objects, p: Mapping[str, float], rng: np.random.Generator, fill: Fill
) -> OpOutput:
    w, h = image.size
    return OpOutput(image.transpose(Image.Transpose.FLIP_TOP_BOTTOM), geometry.vflip(objects, w, h))


def _rotate(
    image: Image.Image, objects: Objects, p: Mapping[str, float], rng: np.random.Generator, fill: Fill
) -> OpOutput:
    degrees = float(rng.uniform(-p["max_degrees"], p["max_degrees"]))
    w, h = image.size
    rot = geometry.rotation(w, h, degrees)
    out = image.transform(
        (rot.width, rot.height),
        Image.Transform.AFFINE,
        rot.pil_matrix,
        resample=Image.Resampling.BILINEAR,
        fillcolor=fill,
    )
    return OpOutput(
        out,
        geometry.apply_affine(objects, rot.affine, rot.width, rot.height),
        {"degrees": degrees, "width": rot.width, "height": rot.height},
    )


def _scale(
    image: Image.Image, objects: Objects, p: Mapping[str, float], rng: np.random.Generator, fill: Fill
) -> OpOutput:
    factor = float(rng.uniform(p["min_scale"], p["max_scale"]))
    w, h = image.size
    nw, nh = geometry.scaled_size(w, h, factor, SCALE_MULTIPLE)
    params = {"factor": factor, "width": nw, "height": nh}
    if (nw, nh) == (w, h):
        return OpOutput(image, copy_objects(objects), params)
    out = image.resize((nw, nh), Image.Resampling.BILINEAR)
    return OpOutput(out, geometry.resize(objects, w, h, nw, nh), params)


def _crop(
    image: Image.Image, objects: Objects, p: Mapping[str, float], rng: np.random.Generator, fill: Fill
) -> OpOutput:
    """Random window with sides ``scale * (w, h)``; objects under ``min_coverage`` are dropped.

    A window that would drop every object of a non-empty sample is redrawn, up to ``CROP_ATTEMPTS``
    times; after that the crop is skipped (recorded as ``skipped``) rather than emptying the sample.
    """
    w, h = image.size
    for attempt in range(CROP_ATTEMPTS):
        s = float(rng.uniform(p["min_scale"], p["max_scale"]))
        cw = min(w, max(1, math.floor(w * s + 0.5)))
        ch = min(h, max(1, math.floor(h * s + 0.5)))
        left = int(rng.integers(0, w - cw + 1))
        top = int(rng.integers(0, h - ch + 1))
        window = (left, top, left + cw, top + ch)
        res = geometry.crop(objects, window, p["min_coverage"])
        if res.objects or not objects:
            params = {
                "scale": s,
                "window": window,
                "dropped": len(objects) - len(res.kept),
                "attempts": attempt + 1,
            }
            return OpOutput(image.crop(window), res.objects, params)
    return OpOutput(
        image, copy_objects(objects), {"attempts": CROP_ATTEMPTS}, skipped="every window dropped all objects"
    )


def _color(
    image: Image.Image, objects: Objects, p: Mapping[str, float], rng: np.random.Generator, fill: Fill
) -> OpOutput:
    """Brightness, contrast, saturation (in that order), each factor uniform in ``[1 - v, 1 + v]``."""
    factors = {
        k: float(rng.uniform(1.0 - p[k], 1.0 + p[k])) for k in ("brightness", "contrast", "saturation")
    }
    out = image
    out = ImageEnhance.Brightness(out).enhance(factors["brightness"])
    out = ImageEnhance.Contrast(out).enhance(factors["contrast"])
    if out.mode in ("RGB", "RGBA"):
        out = ImageEnhance.Color(out).enhance(factors["saturation"])
    return OpOutput(out, copy_objects(objects), factors)


OpFn = Callable[[Image.Image, Objects, Mapping[str, float], np.random.Generator, Fill], OpOutput]

OPS: dict[str, OpFn] = {
    "hflip": _hflip,
    "vflip": _vflip,
    "rotate": _rotate,
    "scale": _scale,
    "crop": _crop,
    "color": _color,
}


def apply_op(
    name: str,
    image: Image.Image,
    objects: Sequence[Any],
    params: Mapping[str, float],
    rng: np.random.Generator,
    fill: Fill = 0,
) -> OpOutput:
    """Run one op unconditionally (the pipeline decides whether it fires)."""
    return OPS[name](image, copy_objects(objects), params, rng, fill)
