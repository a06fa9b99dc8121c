"""Augmentation pipeline: config -> ops applied to a PIL image and its objects together.

Config (docs/data_contract.md "Augmentation"): ``custom.augmentation: {enabled, bypass_prob, ops}``
and ``custom.augmentation_curriculum: {phases: [...]}`` or null, validated by the typed schema
(``src/config/schema_augmentation.py``; plain dicts are validated through it too).

Semantics, per sample:
1. disabled (or no ops) -> the sample is returned unchanged (copied), no randomness consumed;
2. the curriculum (:mod:`~.aug_curriculum`) gives ``bypass_prob`` and every op's parameters at the
   training position (``global_step`` of ``total_steps``);
3. one draw ``u ~ U[0, 1)``; ``u < bypass_prob`` -> bypassed, unchanged;
4. otherwise each op in config order: one draw ``u ~ U[0, 1)`` (not for ``expand_to_fit_affine``,
   which always runs); it fires when ``u < prob`` and then draws its own parameters
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

from src.config.schema_augmentation import AugmentationConfig, AugmentationCurriculum, check_curriculum
from src.datasets import geometry
from src.datasets.aug_curriculum import Curriculum, Phase, Targets
from src.datasets.aug_ops import Canvas, copy_objects, run_op
from src.datasets.image_frame import ImageFrame


def _typed(value: Any, model: type, what: str) -> Any:
    if value is None or isinstance(value, model):
        return value
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if not isinstance(value, Mapping):
        raise TypeError(f"{what}: expected a mapping or {model.__name__}, got {type(value).__name__}")
    return model.model_validate(dict(value))


@dataclass(frozen=True)
class AugmentationSpec:
    enabled: bool
    ops: tuple[str, ...]  # op names, in order
    curriculum: Curriculum  # base targets (milestone 0) and the phases

    @classmethod
    def from_config(cls, augmentation: Any, curriculum: Any = None) -> AugmentationSpec:
        """From ``custom.augmentation`` (+ ``custom.augmentation_curriculum``): typed models or dicts
        (validated by the schema; a ``pydantic.ValidationError``, a ``ValueError``, otherwise)."""
        aug = _typed(augmentation, AugmentationConfig, "custom.augmentation") or AugmentationConfig()
        cur = _typed(curriculum, AugmentationCurriculum, "custom.augmentation_curriculum")
        check_curriculum(aug, cur)
        base = Targets(aug.bypass_prob, tuple(
            {**({"prob": op.prob} if "prob" in type(op).model_fields else {}), **op.params()} for op in aug.ops))
        index = {op.name: i for i, op in enumerate(aug.ops)}
        phases = [] if cur is None else [
            Phase(p.milestone, p.bypass_prob, {index[n]: dict(v) for n, v in p.ops.items()}) for p in cur.phases]
        unit = "percent" if cur is None else cur.unit
        return cls(aug.enabled, tuple(op.name for op in aug.ops), Curriculum.build(unit, base, phases))

    def targets(self, global_step: int = 0, total_steps: int = 0) -> Targets:
        """``bypass_prob`` and every op's parameters at this training position."""
        return self.curriculum.at(self.curriculum.position(global_step, total_steps))


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
    """Applies an :class:`AugmentationSpec` to ``(image, objects)``; see the module docstring.

    ``size_multiple`` (opt-in, e.g. 32 for Qwen3-VL with ``do_resize=false``): when the result's sides
    are not multiples of it, a final resize to the nearest multiples is applied to image and
    coordinates (exact per-axis ratio) and recorded as an ``align`` op. ``max_pixels``
    (``template.max_pixels``): an aligned result above it is resized down to fit it in the same step,
    by the template's own rule (:class:`~.image_frame.ImageFrame`: transformers' ``smart_resize``), so
    the template never resizes an augmented image behind the coordinates' back. The step runs whenever
    ops ran, never on a disabled or bypassed sample; after an ``expand_to_fit_affine`` with the same
    multiple and a cap no larger it has nothing to do.
    """

    def __init__(self, spec: AugmentationSpec, *, size_multiple: int | None = None,
                 max_pixels: int | None = None) -> None:
        if size_multiple is not None and size_multiple <= 0:
            raise ValueError(f"size_multiple must be positive, got {size_multiple}")
        if max_pixels is not None and size_multiple is None:
            raise ValueError("max_pixels needs size_multiple (the cap keeps sides aligned)")
        if max_pixels is not None and max_pixels < size_multiple * size_multiple:
            raise ValueError(f"max_pixels {max_pixels} is below one {size_multiple}x{size_multiple} patch group")
        self.spec = spec
        self.size_multiple = size_multiple
        self.max_pixels = max_pixels

    @classmethod
    def from_config(cls, augmentation: Any, curriculum: Any = None, *, size_multiple: int | None = None,
                    max_pixels: int | None = None) -> AugmentationPipeline:
        return cls(AugmentationSpec.from_config(augmentation, curriculum), size_multiple=size_multiple,
                   max_pixels=max_pixels)

    @property
    def active(self) -> bool:
        return self.spec.enabled and bool(self.spec.ops)

    def __call__(self, image: Image.Image, objects: Sequence[Any], rng: np.random.Generator, *,
                 global_step: int = 0, total_steps: int = 0) -> AugmentationResult:
        if not self.active:
            return AugmentationResult(image, copy_objects(objects), [], False, 0.0)
        targets = self.spec.targets(global_step, total_steps)
        if rng.random() < targets.bypass_prob:
            return AugmentationResult(image, copy_objects(objects), [], True, targets.bypass_prob)
        applied: list[AppliedOp] = []
        canvas = Canvas(image, copy_objects(objects))
        for name, params in zip(self.spec.ops, targets.ops, strict=True):
            if "prob" in params and not rng.random() < params["prob"]:
                continue
            sampled, skipped = run_op(name, canvas, params, rng)
            applied.append(AppliedOp(name, sampled, skipped))
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
        return AugmentationResult(cur_image, cur_objects, applied, False, targets.bypass_prob)
