"""The typed `custom.augmentation` and `custom.augmentation_curriculum` sections.

The one definition of the augmentation config: each op's model holds its parameters, defaults and
ranges, and the data pipeline (`src/datasets/augmentation.py`) runs these objects as validated here.
Every op is flat: `{name: <op>, prob: <p>, <param>: <value>, ...}` (`expand_to_fit_affine` has no
`prob`: it always runs). Ranges are `[lo, hi]` lists with `lo <= hi`. The curriculum ramps numeric op
parameters phase by phase (`docs/data_contract.md` "Augmentation"); `check_curriculum` cross-checks
it against the ops (called by `CustomConfig`, errors carry the exact key path, so file:line).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from src.constants import IMAGE_SIZE_MULTIPLE

from .schema_base import PositiveFloat, PositiveInt, Probability, StrictModel

Range = Annotated[list[float], Field(min_length=2, max_length=2)]


def _ordered_ranges(model: StrictModel, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(model, name)
        if value is not None and value[0] > value[1]:
            raise ValueError(f"`{name}` is [lo, hi] with lo <= hi, got {value}")


def _ordered_pairs(model: StrictModel, pairs: tuple[tuple[str, str], ...]) -> None:
    for lo, hi in pairs:
        if getattr(model, lo) > getattr(model, hi):
            raise ValueError(f"{lo} {getattr(model, lo)} is above {hi} {getattr(model, hi)}")


def _nonnegative(model: StrictModel, names: tuple[str, ...], positive: tuple[str, ...]) -> None:
    for name in names:
        if min(getattr(model, name)) < 0:
            raise ValueError(f"`{name}` factors must be >= 0, got {getattr(model, name)}")
    for name in positive:
        if min(getattr(model, name)) <= 0:
            raise ValueError(f"`{name}` must be > 0 at both ends, got {getattr(model, name)}")


class _Op(StrictModel):
    # Parameters the curriculum may ramp (numbers and [lo, hi] ranges); `prob` always may.
    CURRICULUM: ClassVar[tuple[str, ...]] = ()
    RANGES: ClassVar[tuple[str, ...]] = ()  # [lo, hi] lists: lo <= hi
    ORDERED: ClassVar[tuple[tuple[str, str], ...]] = ()  # (lo, hi) field pairs: lo <= hi
    NONNEGATIVE: ClassVar[tuple[str, ...]] = ()  # ranges of factors: both ends >= 0
    POSITIVE: ClassVar[tuple[str, ...]] = ()  # ranges of factors: both ends > 0

    @classmethod
    def ramped(cls) -> tuple[str, ...]:
        """The fields a curriculum phase may set (and the curriculum interpolates): `prob`, when the op
        has one, then `CURRICULUM`."""
        return (("prob",) if "prob" in cls.model_fields else ()) + cls.CURRICULUM

    @model_validator(mode="after")
    def _ranges(self) -> _Op:
        _ordered_ranges(self, self.RANGES)
        _ordered_pairs(self, self.ORDERED)
        _nonnegative(self, self.NONNEGATIVE, self.POSITIVE)
        return self


class HFlipOp(_Op):
    name: Literal["hflip"]
    prob: Probability


class VFlipOp(_Op):
    name: Literal["vflip"]
    prob: Probability


class RotateOp(_Op):
    """Counter-clockwise rotation by an angle uniform in [-max_degrees, max_degrees]; canvas expands."""

    CURRICULUM = ("max_degrees",)
    name: Literal["rotate"]
    prob: Probability
    max_degrees: Annotated[float, Field(ge=0.0, le=180.0)]


class ResizeOp(_Op):
    """Resize by a factor uniform in [low, high] (the two fields `FACTOR` names, low <= high); result
    sides rounded to multiples of `multiple`. One op under two spellings, run by one implementation
    (`src/datasets/aug_ops.py`): `scale` (min_scale, max_scale; multiples of 32) and the seed's
    `resize_by_scale` (lo, hi, align_multiple)."""

    FACTOR: ClassVar[tuple[str, str]]

    @property
    def factors(self) -> tuple[float, float]:
        return getattr(self, self.FACTOR[0]), getattr(self, self.FACTOR[1])

    @property
    def multiple(self) -> int:
        return IMAGE_SIZE_MULTIPLE

    @model_validator(mode="after")
    def _factor_order(self) -> ResizeOp:
        _ordered_pairs(self, (self.FACTOR,))
        return self


class ScaleOp(ResizeOp):
    CURRICULUM = FACTOR = ("min_scale", "max_scale")
    name: Literal["scale"]
    prob: Probability
    min_scale: PositiveFloat
    max_scale: PositiveFloat


class ResizeByScaleOp(ResizeOp):
    """`scale` as the seed spelled it, with the multiple as a parameter."""

    CURRICULUM = FACTOR = ("lo", "hi")
    name: Literal["resize_by_scale"]
    prob: Probability
    lo: PositiveFloat
    hi: PositiveFloat
    align_multiple: PositiveInt = IMAGE_SIZE_MULTIPLE

    @property
    def multiple(self) -> int:
        return self.align_multiple



class CropOp(_Op):
    """Random crop of relative size in [min_scale, max_scale]; objects whose visible fraction falls
    under min_coverage are dropped."""

    CURRICULUM = ("min_scale", "max_scale", "min_coverage")
    ORDERED = (("min_scale", "max_scale"),)
    name: Literal["crop"]
    prob: Probability
    min_scale: Annotated[float, Field(gt=0.0, le=1.0)]
    max_scale: Annotated[float, Field(gt=0.0, le=1.0)]
    min_coverage: Probability



class ColorOp(_Op):
    """Colour jitter; each strength in [0, 1] is the maximum relative change (0 = off)."""

    CURRICULUM = ("brightness", "contrast", "saturation")
    name: Literal["color"]
    prob: Probability
    brightness: Probability
    contrast: Probability
    saturation: Probability


class RoiCropOp(_Op):
    """Crop around an anchor object (desc token `类别=<one of anchor_classes>`), window = anchor box
    x U(scale_range), each side at least min_crop_size (within the image). Objects are clipped to the
    window; boxes and polygons under min_coverage are dropped; `可见性=完整` becomes `可见性=部分` under
    completeness_threshold. Skipped (sample unchanged) when no anchor is present."""

    CURRICULUM = ("scale_range", "min_crop_size", "min_coverage", "completeness_threshold")
    RANGES = POSITIVE = ("scale_range",)
    name: Literal["roi_crop"]
    prob: Probability
    anchor_classes: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    scale_range: Range = Field(default_factory=lambda: [1.25, 2.3])
    min_crop_size: PositiveFloat = 384.0
    min_coverage: Probability = 0.4
    completeness_threshold: Probability = 0.95


class ExpandToFitAffineOp(_Op):
    """Barrier, no prob: flush the pending flips/rotations onto a canvas that holds all of the image,
    pad it (middle gray, right/bottom) to multiples of `multiple`, and scale it down when the padded
    canvas would exceed max_pixels. Keep it after every size-changing op."""

    name: Literal["expand_to_fit_affine"]
    multiple: PositiveInt = IMAGE_SIZE_MULTIPLE
    max_pixels: PositiveInt = 921600

    @model_validator(mode="after")
    def _room(self) -> ExpandToFitAffineOp:
        if self.max_pixels < self.multiple * self.multiple:
            raise ValueError(f"max_pixels {self.max_pixels} is below one {self.multiple}x{self.multiple} cell")
        return self


class ColorJitterOp(_Op):
    """Brightness, contrast, saturation factors, each uniform in its [lo, hi] (1 = unchanged)."""

    CURRICULUM = RANGES = NONNEGATIVE = ("brightness", "contrast", "saturation")
    name: Literal["color_jitter"]
    prob: Probability
    brightness: Range = Field(default_factory=lambda: [1.0, 1.0])
    contrast: Range = Field(default_factory=lambda: [1.0, 1.0])
    saturation: Range = Field(default_factory=lambda: [1.0, 1.0])



class GammaOp(_Op):
    """`out = 255 * (in / 255) ** g`, g uniform in `gamma` (> 1 darkens)."""

    CURRICULUM = RANGES = POSITIVE = ("gamma",)
    name: Literal["gamma"]
    prob: Probability
    gamma: Range


class HsvOp(_Op):
    """Hue shift in degrees, saturation and value factors, each uniform in its range."""

    CURRICULUM = RANGES = ("hue_delta_deg", "sat", "val")
    NONNEGATIVE = ("sat", "val")
    name: Literal["hsv"]
    prob: Probability
    hue_delta_deg: Range = Field(default_factory=lambda: [0.0, 0.0])
    sat: Range = Field(default_factory=lambda: [1.0, 1.0])
    val: Range = Field(default_factory=lambda: [1.0, 1.0])

    @model_validator(mode="after")
    def _limits(self) -> HsvOp:
        if self.hue_delta_deg[0] < -180.0 or self.hue_delta_deg[1] > 180.0:
            raise ValueError(f"`hue_delta_deg` must lie in [-180, 180], got {self.hue_delta_deg}")
        return self


class ClaheOp(_Op):
    """OpenCV CLAHE on the lightness channel (LAB L)."""

    CURRICULUM = ("clip_limit",)
    name: Literal["clahe"]
    prob: Probability
    clip_limit: PositiveFloat
    tile_grid_size: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [8, 8])


class AutoContrastOp(_Op):
    """PIL autocontrast: cut `cutoff` percent of the histogram at each end, stretch the rest."""

    CURRICULUM = ("cutoff",)
    name: Literal["auto_contrast"]
    prob: Probability
    cutoff: Annotated[float, Field(ge=0.0, lt=50.0)] = 0.0


class SharpnessOp(_Op):
    """PIL sharpness enhance with a factor uniform in `factor` (1 = unchanged, 0 = blurred)."""

    CURRICULUM = RANGES = NONNEGATIVE = ("factor",)
    name: Literal["sharpness"]
    prob: Probability
    factor: Range



OP_MODELS: tuple[type[_Op], ...] = (
    HFlipOp, VFlipOp, RotateOp, ScaleOp, CropOp, ColorOp, RoiCropOp, ResizeByScaleOp, ExpandToFitAffineOp,
    ColorJitterOp, GammaOp, HsvOp, ClaheOp, AutoContrastOp, SharpnessOp,
)
OP_BY_NAME: dict[str, type[_Op]] = {m.model_fields["name"].annotation.__args__[0]: m for m in OP_MODELS}
AugmentationOp = Annotated[
    HFlipOp | VFlipOp | RotateOp | ScaleOp | CropOp | ColorOp | RoiCropOp | ResizeByScaleOp
    | ExpandToFitAffineOp | ColorJitterOp | GammaOp | HsvOp | ClaheOp | AutoContrastOp | SharpnessOp,
    Field(discriminator="name"),
]
# Ops that change the canvas size: none may follow an expand_to_fit_affine (its padding would be undone).
SIZE_CHANGING: frozenset[str] = frozenset({"rotate", "scale", "crop", "roi_crop", "resize_by_scale"})


class AugmentationConfig(StrictModel):
    enabled: bool = False
    bypass_prob: Probability = 0.0
    ops: list[AugmentationOp] = Field(default_factory=list)

    @field_validator("ops")
    @classmethod
    def _expand_last(cls, ops: list[_Op]) -> list[_Op]:
        expands = [i for i, op in enumerate(ops) if op.name == "expand_to_fit_affine"]
        if expands:
            late = [f"{op.name} (ops[{j}])" for j, op in enumerate(ops) if j > expands[0] and op.name in SIZE_CHANGING]
            if late:
                raise ValueError(
                    f"expand_to_fit_affine (ops[{expands[0]}]) must come after every size-changing op, but "
                    f"{', '.join(late)} follow it: their output would no longer be padded to its multiple. "
                    "Move expand_to_fit_affine to the end of the list.")
        return ops


CurriculumValue = float | Range


class CurriculumPhase(StrictModel):
    """Targets reached at the phase's end: `until_percent` (of the run's total optimizer steps) or
    `until_step`; `bypass_prob` and op parameters not named keep the previous phase's targets."""

    until_percent: Annotated[float, Field(gt=0.0, le=100.0)] | None = None
    until_step: PositiveInt | None = None
    bypass_prob: Probability | None = None
    ops: dict[str, dict[str, CurriculumValue]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_milestone(self) -> CurriculumPhase:
        if (self.until_percent is None) == (self.until_step is None):
            raise ValueError("each phase needs exactly one of `until_percent` (0 < p <= 100) or `until_step`")
        return self

    @property
    def milestone(self) -> float:
        return float(self.until_percent if self.until_percent is not None else self.until_step)


class AugmentationCurriculum(StrictModel):
    """Per-phase targets for `bypass_prob` and numeric op parameters, ramped linearly from the previous
    phase's targets (the first phase ramps from the base `custom.augmentation`); held after the last."""

    phases: Annotated[list[CurriculumPhase], Field(min_length=1)]

    @field_validator("phases")
    @classmethod
    def _increasing(cls, phases: list[CurriculumPhase]) -> list[CurriculumPhase]:
        kinds = {"until_percent" if p.until_percent is not None else "until_step" for p in phases}
        if len(kinds) > 1:
            raise ValueError("phases mix `until_percent` and `until_step`; use one kind in a curriculum")
        ends = [p.milestone for p in phases]
        if any(b <= a for a, b in pairwise(ends)):
            raise ValueError(f"{kinds.pop()} must strictly increase across phases, got {ends}")
        return phases

    @property
    def unit(self) -> Literal["percent", "step"]:
        return "percent" if self.phases[0].until_percent is not None else "step"


def _problem(loc: tuple[Any, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)


def check_curriculum(aug: AugmentationConfig, cur: AugmentationCurriculum | None) -> None:
    """Every phase's overrides name exactly one op of `aug.ops`, a numeric parameter of it in the right
    shape, and the op's targets at every phase validate. Raises a `ValidationError` located at the
    offending key (relative to `custom`)."""
    if cur is None:
        return
    errors: list[InitErrorDetails] = []
    by_name: dict[str, list[int]] = {}
    for i, op in enumerate(aug.ops):
        by_name.setdefault(op.name, []).append(i)
    current = {i: op.model_dump() for i, op in enumerate(aug.ops)}
    for k, phase in enumerate(cur.phases):
        for name, overrides in phase.ops.items():
            loc = ("augmentation_curriculum", "phases", k, "ops", name)
            idx = by_name.get(name, [])
            if len(idx) != 1:
                why = "names no op of custom.augmentation.ops" if not idx else f"names {len(idx)} ops ({idx})"
                errors.append(_problem(loc, f"`{name}` {why}; the curriculum ramps ops by name, so each "
                                            "ramped op must appear exactly once in custom.augmentation.ops",
                                       name))
                continue
            model = OP_BY_NAME[name]
            rampable = model.ramped()
            target = dict(current[idx[0]])
            for param, value in overrides.items():
                ranged = param in model.RANGES
                if param not in rampable:
                    errors.append(_problem((*loc, param), f"`{name}.{param}` cannot be ramped; the curriculum "
                                                          f"ramps {list(rampable) or 'nothing of this op'}", value))
                elif ranged != isinstance(value, list):
                    shape = "a [lo, hi] range" if ranged else "a number"
                    errors.append(_problem((*loc, param), f"`{name}.{param}` is {shape}", value))
                else:
                    target[param] = value
            try:
                current[idx[0]] = model.model_validate(target).model_dump()
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    msg = str(err["msg"]).removeprefix("Value error, ")
                    errors.append(_problem((*loc, *err["loc"]), f"target of phase {k} is invalid: {msg}",
                                           err.get("input")))
    if errors:
        raise ValidationError.from_exception_data("CustomConfig", errors)
