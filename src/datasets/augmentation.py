"""Augmentation pipeline: config -> ops applied to a PIL image and its objects together.

Config (docs/data_contract.md "Augmentation"): ``custom.augmentation: {enabled, bypass_prob, ops}``
and ``custom.augmentation_curriculum: {phases: [...]}`` or null, as the typed schema
(``src/config/schema_augmentation.py``) validated them at load: the pipeline reads those objects as
they are (each op model is the op function's parameters), nothing is validated again here.

Semantics, per sample:
1. disabled (or no ops) -> the sample is returned unchanged (copied), no randomness consumed;
2. the curriculum (:mod:`~.aug_curriculum`) gives the config in effect (``bypass_prob`` and every
   op's parameters) at the training position (``global_step`` of ``total_steps``);
3. one draw ``u ~ U[0, 1)``; ``u < bypass_prob`` -> bypassed, unchanged;
4. otherwise each op in config order: one draw ``u ~ U[0, 1)`` (not for ``expand_to_fit_affine``,
   which has no ``prob`` and always runs); it fires when ``u < prob`` and then draws its own parameters
   (:mod:`~.aug_ops`: affine ops accumulate, colour ops apply at once, barriers flush first);
5. the pending affine is flushed at the end.
Everything is deterministic given the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from src.config.schema_augmentation import AugmentationConfig, AugmentationCurriculum
from src.datasets import geometry
from src.datasets.aug_curriculum import Curriculum
from src.datasets.aug_ops import Canvas, copy_objects, run_op
from src.datasets.image_frame import ImageFrame


@dataclass(frozen=True)
class AppliedOp:
    name: str
    params: Mapping[str, Any]
    skipped: str | None = None


@dataclass
class AugmentationResult:
    image: Image.Image
    objects: list[dict[str, Any]]
    applied: list[AppliedOp]  # ops that fired, in order (a skipped one carries its reason)
    bypassed: bool
    bypass_prob: float

    @property
    def width(self) -> int:
        return self.image.size[0]

    @property
    def height(self) -> int:
        return self.image.size[1]

    @property
    def applied_names(self) -> list[str]:
        return [a.name for a in self.applied if a.skipped is None]


class AugmentationPipeline:
    """Applies ``custom.augmentation`` (ramped by ``custom.augmentation_curriculum``, when given) to
    ``(image, objects)``; see the module docstring. The two are the typed sections of one validated
    ``CustomConfig`` (its ``check_curriculum`` matched the phases to the ops).

    ``size_multiple`` (opt-in, e.g. 32 for Qwen3-VL with ``do_resize=false``): when the result's sides
    are not multiples of it, a final resize to the nearest multiples is applied to image and
    coordinates (exact per-axis ratio) and recorded as an ``align`` op. ``max_pixels``
    (``template.max_pixels``): an aligned result above it is resized down to fit it in the same step,
    by the template's own rule (:class:`~.image_frame.ImageFrame`: transformers' ``smart_resize``), so
    the template never resizes an augmented image behind the coordinates' back. The step runs whenever
    ops ran, never on a disabled or bypassed sample; after an ``expand_to_fit_affine`` with the same
    multiple and a cap no larger it has nothing to do.
    """

    def __init__(self, augmentation: AugmentationConfig, curriculum: AugmentationCurriculum | None = None, *,
                 size_multiple: int | None = None, max_pixels: int | None = None) -> None:
        if size_multiple is not None and size_multiple <= 0:
            raise ValueError(f"size_multiple must be positive, got {size_multiple}")
        if max_pixels is not None and size_multiple is None:
            raise ValueError("max_pixels needs size_multiple (the cap keeps sides aligned)")
        if max_pixels is not None and max_pixels < size_multiple * size_multiple:
            raise ValueError(f"max_pixels {max_pixels} is below one {size_multiple}x{size_multiple} patch group")
        self.curriculum = Curriculum.build(augmentation, curriculum)
        self.size_multiple = size_multiple
        self.max_pixels = max_pixels

    @property
    def config(self) -> AugmentationConfig:
        """The base ``custom.augmentation`` (milestone 0 of the curriculum)."""
        return self.curriculum.configs[0]

    @property
    def active(self) -> bool:
        return self.config.enabled and bool(self.config.ops)

    def config_at(self, global_step: int = 0, total_steps: int = 0) -> AugmentationConfig:
        """The config in effect at this training position: ``bypass_prob`` and every op's parameters."""
        return self.curriculum.at(self.curriculum.position(global_step, total_steps))

    def __call__(self, image: Image.Image, objects: Sequence[Any], rng: np.random.Generator, *,
                 global_step: int = 0, total_steps: int = 0) -> AugmentationResult:
        if not self.active:
            return AugmentationResult(image, copy_objects(objects), [], False, 0.0)
        config = self.config_at(global_step, total_steps)
        if rng.random() < config.bypass_prob:
            return AugmentationResult(image, copy_objects(objects), [], True, config.bypass_prob)
        applied: list[AppliedOp] = []
        canvas = Canvas(image, copy_objects(objects))
        for op in config.ops:
            prob = getattr(op, "prob", None)  # None: expand_to_fit_affine, always runs
            if prob is not None and not rng.random() < prob:
                continue
            sampled, skipped = run_op(op, canvas, rng)
            applied.append(AppliedOp(op.name, sampled, skipped))
        canvas.flush()
        cur_image, cur_objects = canvas.image, canvas.objects
        if self.size_multiple is not None:
            w, h = cur_image.size
            nw, nh = geometry.scaled_size(w, h, 1.0, self.size_multiple)
            if self.max_pixels is not None and nw * nh > self.max_pixels:
                nw, nh = ImageFrame(self.size_multiple, 0, self.max_pixels).size(w, h)
            if (nw, nh) != (w, h):
                cur_objects = geometry.resize(cur_objects, w, h, nw, nh)
                cur_image = cur_image.resize((nw, nh), Image.Resampling.BILINEAR)
                applied.append(AppliedOp("align", {"width": nw, "height": nh}))
        return AugmentationResult(cur_image, cur_objects, applied, False, config.bypass_prob)
