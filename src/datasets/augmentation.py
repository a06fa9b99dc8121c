"""Augmentation pipeline: config -> ops applied to a PIL image and its objects together.

Config (docs/CONTRACTS.md): ``custom.augmentation: {enabled, bypass_prob, ops: [{name, prob, ...}]}``
and ``custom.augmentation_curriculum: {phases: [{until_progress, bypass_prob}]}`` or null. Both are
accepted duck-typed (typed config models with those attributes, pydantic models, dataclasses) or as
plain dicts, through :meth:`AugmentationSpec.from_config`.

Semantics, per sample:
1. disabled (or no ops) -> the sample is returned unchanged (copied), no randomness consumed;
2. one draw ``u ~ U[0, 1)``; ``u < bypass_prob(progress)`` -> bypassed, unchanged;
3. otherwise each op in config order: one draw ``u ~ U[0, 1)``; it fires when ``u < prob`` and then
   draws its own parameters.
Curriculum: the phases are sorted by ``until_progress`` (strictly increasing, in ``(0, 1]``); at
training progress ``p = global_step / total_steps`` the first phase with ``p <= until_progress`` sets
``bypass_prob``; past the last phase the section's own ``bypass_prob`` applies.
Everything is deterministic given the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from src.datasets import geometry
from src.datasets.aug_ops import OP_PARAMS, Fill, apply_op, copy_objects, validate_params
from src.datasets.image_frame import ImageFrame


def _as_mapping(obj: Any, what: str) -> dict[str, Any]:
    """Plain dict view of a config node (dict, pydantic model, dataclass or attribute object)."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        data = dict(obj)
    elif hasattr(obj, "model_dump"):
        data = dict(obj.model_dump())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        data = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif hasattr(obj, "__dict__"):
        data = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    else:
        raise TypeError(f"{what}: expected a mapping or a config object, got {type(obj).__name__}")
    return data


def _prob(value: Any, what: str) -> float:
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ValueError(f"{what} must be in [0, 1], got {value!r}")
    return p


@dataclass(frozen=True)
class OpSpec:
    name: str
    prob: float
    params: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CurriculumPhase:
    until_progress: float
    bypass_prob: float


@dataclass(frozen=True)
class AugmentationSpec:
    enabled: bool = False
    bypass_prob: float = 0.0
    ops: tuple[OpSpec, ...] = ()
    phases: tuple[CurriculumPhase, ...] = ()

    @classmethod
    def from_config(cls, augmentation: Any, curriculum: Any = None) -> AugmentationSpec:
        """Build from ``custom.augmentation`` (+ ``custom.augmentation_curriculum``); validates strictly.

        ``augmentation=None`` means disabled. Op parameters that are ``None`` are treated as absent (a
        flat typed model may carry every op's fields).
        """
        aug = _as_mapping(augmentation, "custom.augmentation")
        unknown = sorted(set(aug) - {"enabled", "bypass_prob", "ops"})
        if unknown:
            raise ValueError(
                f"custom.augmentation: unknown key(s) {unknown}; valid: enabled, bypass_prob, ops"
            )
        enabled = bool(aug.get("enabled", False))
        bypass = _prob(aug.get("bypass_prob", 0.0) or 0.0, "custom.augmentation.bypass_prob")
        ops: list[OpSpec] = []
        for i, raw in enumerate(aug.get("ops") or ()):
            entry = {
                k: v for k, v in _as_mapping(raw, f"custom.augmentation.ops[{i}]").items() if v is not None
            }
            name = entry.pop("name", None)
            where = f"custom.augmentation.ops[{i}]"
            if name not in OP_PARAMS:
                raise ValueError(f"{where}: unknown op name {name!r}; valid: {sorted(OP_PARAMS)}")
            if "prob" not in entry:
                raise ValueError(f"{where} ({name}): missing 'prob'")
            prob = _prob(entry.pop("prob"), f"{where}.prob")
            try:
                params = validate_params(name, entry)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            ops.append(OpSpec(name=name, prob=prob, params=params))
        return cls(enabled=enabled, bypass_prob=bypass, ops=tuple(ops), phases=_phases(curriculum))

    def bypass_prob_at(self, progress: float) -> float:
        """``bypass_prob`` in effect at training progress ``progress`` in ``[0, 1]``."""
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"progress must be in [0, 1], got {progress}")
        for phase in self.phases:
            if progress <= phase.until_progress:
                return phase.bypass_prob
        return self.bypass_prob


def _phases(curriculum: Any) -> tuple[CurriculumPhase, ...]:
    cur = _as_mapping(curriculum, "custom.augmentation_curriculum")
    unknown = sorted(set(cur) - {"phases"})
    if unknown:
        raise ValueError(f"custom.augmentation_curriculum: unknown key(s) {unknown}; valid: phases")
    phases: list[CurriculumPhase] = []
    for i, raw in enumerate(cur.get("phases") or ()):
        where = f"custom.augmentation_curriculum.phases[{i}]"
        ph = _as_mapping(raw, where)
        extra = sorted(set(ph) - {"until_progress", "bypass_prob"})
        if extra or "until_progress" not in ph or "bypass_prob" not in ph:
            raise ValueError(f"{where}: needs exactly until_progress and bypass_prob, got {sorted(ph)}")
        until = float(ph["until_progress"])
        if not 0.0 < until <= 1.0:
            raise ValueError(f"{where}.until_progress must be in (0, 1], got {until}")
        if phases and until <= phases[-1].until_progress:
            raise ValueError(
                f"{where}.until_progress must increase, got {until} after {phases[-1].until_progress}"
            )
        phases.append(CurriculumPhase(until, _prob(ph["bypass_prob"], f"{where}.bypass_prob")))
    return tuple(phases)


def progress_of(global_step: int, total_steps: int) -> float:
    """Training progress ``global_step / total_steps`` clipped to ``[0, 1]`` (0 when total is unknown)."""
    if total_steps <= 0:
        return 0.0
    return min(1.0, max(0.0, global_step / total_steps))


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
    are not multiples of it (after rotate or crop), a final resize to the nearest multiples is applied
    to image and coordinates (exact per-axis ratio) and recorded as an ``align`` op. ``max_pixels``
    (``template.max_pixels``): an aligned result above it (after an upward scale) is resized down to
    fit it in the same step, by the template's own rule (:class:`~.image_frame.ImageFrame`:
    transformers' ``smart_resize``), so the template never resizes an augmented image behind the
    coordinates' back. The step runs whenever ops ran, never on a disabled or bypassed sample.
    """

    def __init__(self, spec: AugmentationSpec, *, fill: Fill = 0, size_multiple: int | None = None,
                 max_pixels: int | None = None) -> None:
        if size_multiple is not None and size_multiple <= 0:
            raise ValueError(f"size_multiple must be positive, got {size_multiple}")
        if max_pixels is not None and size_multiple is None:
            raise ValueError("max_pixels needs size_multiple (the cap keeps sides aligned)")
        if max_pixels is not None and max_pixels < size_multiple * size_multiple:
            raise ValueError(f"max_pixels {max_pixels} is below one {size_multiple}x{size_multiple} patch group")
        self.spec = spec
        self.fill = fill
        self.size_multiple = size_multiple
        self.max_pixels = max_pixels

    @classmethod
    def from_config(
        cls, augmentation: Any, curriculum: Any = None, *, fill: Fill = 0, size_multiple: int | None = None,
        max_pixels: int | None = None,
    ) -> AugmentationPipeline:
        return cls(AugmentationSpec.from_config(augmentation, curriculum), fill=fill, size_multiple=size_multiple,
                   max_pixels=max_pixels)

    @property
    def active(self) -> bool:
        return self.spec.enabled and bool(self.spec.ops)

    def __call__(
        self,
        image: Image.Image,
        objects: Sequence[Any],
        rng: np.random.Generator,
        *,
        progress: float = 0.0,
    ) -> AugmentationResult:
        if not self.active:
            return AugmentationResult(image, copy_objects(objects), [], False, 0.0)
        bypass = self.spec.bypass_prob_at(progress)
        if rng.random() < bypass:
            return AugmentationResult(image, copy_objects(objects), [], True, bypass)
        applied: list[AppliedOp] = []
        cur_image, cur_objects = image, copy_objects(objects)
        for op in self.spec.ops:
            if not rng.random() < op.prob:
                continue
            out = apply_op(op.name, cur_image, cur_objects, op.params, rng, self.fill)
            cur_image, cur_objects = out.image, out.objects
            applied.append(AppliedOp(op.name, out.params, out.skipped))
        if self.size_multiple is not None:
            w, h = cur_image.size
            nw, nh = geometry.scaled_size(w, h, 1.0, self.size_multiple)
            if self.max_pixels is not None and nw * nh > self.max_pixels:
                nw, nh = ImageFrame(self.size_multiple, 0, self.max_pixels).size(w, h)
            if (nw, nh) != (w, h):
                cur_objects = geometry.resize(cur_objects, w, h, nw, nh)
                cur_image = cur_image.resize((nw, nh), Image.Resampling.BILINEAR)
                applied.append(AppliedOp("align", {"width": nw, "height": nh}))
        return AugmentationResult(cur_image, cur_objects, applied, False, bypass)
