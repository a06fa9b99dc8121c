"""Pixel-only augmentation ops (`color_jitter`, `gamma`, `hsv`, `clahe`, `auto_contrast`, `sharpness`).

Each is ``fn(image, op, rng) -> (image, sampled)``, ``op`` the op's typed config
(``src/config/schema_augmentation.py``): geometry never changes. Factors are drawn uniformly from the
op's ``[lo, hi]`` ranges with the ``numpy.random.Generator`` passed in, in the order the parameters
are listed. RGB images (the pipeline's); other modes are converted to RGB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from src.config.schema_augmentation import AutoContrastOp, ClaheOp, ColorJitterOp, GammaOp, HsvOp, SharpnessOp

Sampled = dict[str, float]
ColorFn = Callable[[Image.Image, Any, np.random.Generator], tuple[Image.Image, Sampled]]


def _draw(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    lo, hi = (float(v) for v in bounds)
    return float(rng.uniform(lo, hi))


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def color_jitter(image: Image.Image, op: ColorJitterOp, rng: np.random.Generator) -> tuple[Image.Image, Sampled]:
    """Brightness, then contrast, then saturation (PIL ``ImageEnhance``), each factor from its range."""
    f = {k: _draw(rng, v) for k, v in (("brightness", op.brightness), ("contrast", op.contrast),
                                       ("saturation", op.saturation))}
    out = ImageEnhance.Brightness(_rgb(image)).enhance(f["brightness"])
    out = ImageEnhance.Contrast(out).enhance(f["contrast"])
    return ImageEnhance.Color(out).enhance(f["saturation"]), f


def gamma(image: Image.Image, op: GammaOp, rng: np.random.Generator) -> tuple[Image.Image, Sampled]:
    """``out = round(255 * (in / 255) ** g)`` per channel (a lookup table)."""
    g = _draw(rng, op.gamma)
    lut = [int(np.floor(255.0 * (v / 255.0) ** g + 0.5)) for v in range(256)]
    return _rgb(image).point(lut * 3), {"gamma": g}


def hsv(image: Image.Image, op: HsvOp, rng: np.random.Generator) -> tuple[Image.Image, Sampled]:
    """Hue rotated by ``hue_delta_deg`` degrees, saturation and value scaled (PIL's 8-bit HSV)."""
    d, s, v = _draw(rng, op.hue_delta_deg), _draw(rng, op.sat), _draw(rng, op.val)
    arr = np.asarray(_rgb(image).convert("HSV")).astype(np.float64)
    arr[..., 0] = np.mod(np.floor(arr[..., 0] + d * 256.0 / 360.0 + 0.5), 256.0)
    arr[..., 1] *= s
    arr[..., 2] *= v
    out = np.clip(np.floor(arr + 0.5), 0, 255).astype(np.uint8)
    return Image.fromarray(out, mode="HSV").convert("RGB"), {"hue_delta_deg": d, "sat": s, "val": v}


def clahe(image: Image.Image, op: ClaheOp, rng: np.random.Generator) -> tuple[Image.Image, Sampled]:
    """OpenCV CLAHE (``clip_limit``, ``tile_grid_size``) on the L channel of LAB; colour kept."""
    import cv2  # an image-processing dependency only this op needs

    tiles = tuple(int(t) for t in op.tile_grid_size)
    lab = cv2.cvtColor(np.asarray(_rgb(image)), cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=float(op.clip_limit), tileGridSize=tiles).apply(
        np.ascontiguousarray(lab[..., 0]))
    return Image.fromarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)), {"clip_limit": float(op.clip_limit)}


def auto_contrast(image: Image.Image, op: AutoContrastOp, rng: np.random.Generator) -> tuple[Image.Image, Sampled]:
    """PIL ``ImageOps.autocontrast`` cutting ``cutoff`` percent at each end of the histogram."""
    return ImageOps.autocontrast(_rgb(image), cutoff=float(op.cutoff)), {"cutoff": float(op.cutoff)}


def sharpness(image: Image.Image, op: SharpnessOp, rng: np.random.Generator) -> tuple[Image.Image, Sampled]:
    """PIL ``ImageEnhance.Sharpness`` with a factor from ``factor``."""
    f = _draw(rng, op.factor)
    return ImageEnhance.Sharpness(_rgb(image)).enhance(f), {"factor": f}


COLOR_OPS: dict[str, ColorFn] = {
    "color_jitter": color_jitter,
    "gamma": gamma,
    "hsv": hsv,
    "clahe": clahe,
    "auto_contrast": auto_contrast,
    "sharpness": sharpness,
}
