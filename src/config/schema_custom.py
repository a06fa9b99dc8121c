"""The typed `custom` section: project-level policy (data selection, targets, augmentation)."""

from __future__ import annotations

import string
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .schema_base import PositiveFloat, PositiveInt, Probability, RepoPath, StrictModel


class HFlipOp(StrictModel):
    name: Literal["hflip"]
    prob: Probability


class VFlipOp(StrictModel):
    name: Literal["vflip"]
    prob: Probability


class RotateOp(StrictModel):
    name: Literal["rotate"]
    prob: Probability
    max_degrees: Annotated[float, Field(ge=0.0, le=180.0)]


class ScaleOp(StrictModel):
    """Resize by a factor in [min_scale, max_scale]; result sides rounded to multiples of 32."""

    name: Literal["scale"]
    prob: Probability
    min_scale: PositiveFloat
    max_scale: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self) -> ScaleOp:
        if self.min_scale > self.max_scale:
            raise ValueError(f"min_scale {self.min_scale} is above max_scale {self.max_scale}")
        return self


class CropOp(StrictModel):
    """Random crop of relative size in [min_scale, max_scale]; objects whose visible fraction falls
    under min_coverage are dropped."""

    name: Literal["crop"]
    prob: Probability
    min_scale: Annotated[float, Field(gt=0.0, le=1.0)]
    max_scale: Annotated[float, Field(gt=0.0, le=1.0)]
    min_coverage: Probability

    @model_validator(mode="after")
    def _ordered(self) -> CropOp:
        if self.min_scale > self.max_scale:
            raise ValueError(f"min_scale {self.min_scale} is above max_scale {self.max_scale}")
        return self


class ColorOp(StrictModel):
    """Colour jitter; each strength in [0, 1] is the maximum relative change (0 = off)."""

    name: Literal["color"]
    prob: Probability
    brightness: Probability
    contrast: Probability
    saturation: Probability


AugmentationOp = Annotated[
    HFlipOp | VFlipOp | RotateOp | ScaleOp | CropOp | ColorOp, Field(discriminator="name")
]


class AugmentationConfig(StrictModel):
    enabled: bool = False
    bypass_prob: Probability = 0.0
    ops: list[AugmentationOp] = Field(default_factory=list)


class CurriculumPhase(StrictModel):
    until_progress: Annotated[float, Field(gt=0.0, le=1.0)]
    bypass_prob: Probability


class AugmentationCurriculum(StrictModel):
    """Piecewise bypass probability over training progress (fraction of total steps)."""

    phases: Annotated[list[CurriculumPhase], Field(min_length=1)]

    @field_validator("phases")
    @classmethod
    def _increasing(cls, phases: list[CurriculumPhase]) -> list[CurriculumPhase]:
        ends = [p.until_progress for p in phases]
        if any(b <= a for a, b in pairwise(ends)):
            raise ValueError(f"until_progress must strictly increase across phases, got {ends}")
        return phases


class TelemetryConfig(StrictModel):
    per_dataset: bool = True
    per_token_type: bool = True


class DetectionEvalConfig(StrictModel):
    """Greedy generation on a fixed val subset during training, logged as eval_det/* (docs/evaluation.md)."""

    enabled: bool = False
    every_steps: PositiveInt | None = None  # null: training.eval_steps
    num_samples: PositiveInt = 16  # the first N records of the val split (targets in order), sharded over ranks
    max_new_tokens: PositiveInt = 512
    batch_size: PositiveInt = 4  # generation batch per rank
    num_images_to_log: Annotated[int, Field(ge=0)] = 2  # overlays to tensorboard (when it is a report_to)


class CustomConfig(StrictModel):
    fusion_config: RepoPath | None = None
    use_summary: bool = False
    coord_format: Literal["pixel", "norm1000", "coord_tokens"] = "norm1000"
    object_ordering: Literal["reading_order", "as_is"] = "reading_order"
    json_format: Literal["standard"] = "standard"
    assistant_prefix_format: str | None = None
    user_prompt: str | None = None
    summary_prompt: str | None = None
    augmentation: AugmentationConfig = Field(default_factory=AugmentationConfig)
    augmentation_curriculum: AugmentationCurriculum | None = None
    trainer_variant: Literal["gkd_monitor", "stage2_ab_training"] | None = None
    dump_conversation_text: bool = False
    dump_conversation_path: RepoPath | None = None
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    detection_eval: DetectionEvalConfig = Field(default_factory=DetectionEvalConfig)
    # Chat-template / tokenizer drift guard: the sha256 (or a >= 12-digit prefix) of the probe
    # conversation's ids from a previous run's manifest (`template_fingerprint.sha256`), or
    # "recorded" (src/audit/template_fingerprints.json, by model directory name); null = record only.
    template_fingerprint: str | None = None

    @field_validator("template_fingerprint", mode="before")
    @classmethod
    def _fingerprint(cls, value: object) -> str | None:
        if value is None or value == "recorded":
            return value
        if not isinstance(value, str):
            raise ValueError(  # noqa: TRY004 - pydantic reports ValueError, not TypeError
                f"YAML read {value!r} as {type(value).__name__}, not a string: quote the digest (\"...\")")
        digest = value.strip().lower()
        if not 12 <= len(digest) <= 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{value!r} is neither 'recorded' nor a sha256 hex digest (12 to 64 hex digits); copy "
                             "`template_fingerprint.sha256` from a previous run's run_manifest.json")
        return digest

    @field_validator("assistant_prefix_format")
    @classmethod
    def _format_string(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                list(string.Formatter().parse(value))
            except ValueError as exc:
                raise ValueError(f"not a valid format string ({exc}); write literal braces as {{{{ }}}}") from None
        return value
