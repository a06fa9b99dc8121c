"""The typed `custom` section: project-level policy (data selection, targets, augmentation)."""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .schema_augmentation import AugmentationConfig, AugmentationCurriculum, check_curriculum
from .schema_base import PositiveInt, RepoPath, StrictModel


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


class PreflightConfig(StrictModel):
    """The records pre-flight before the model loads (src/datasets/preflight.py, docs/data_contract.md)."""

    # read every image's header (size, format, EXIF) and compare it with its record; false skips it
    # (records are still checked; the loader still checks each image when it reads it)
    image_scan: bool = True


class CustomConfig(StrictModel):
    fusion_config: RepoPath | None = None
    use_summary: bool = False
    coord_format: Literal["pixel", "norm1000", "coord_tokens"] = "norm1000"
    object_ordering: Literal["reading_order", "center_reading_order", "as_is"] = "reading_order"
    json_format: Literal["standard"] = "standard"
    assistant_prefix_format: str | None = None
    user_prompt: str | None = None
    summary_prompt: str | None = None
    augmentation: AugmentationConfig = Field(default_factory=AugmentationConfig)
    augmentation_curriculum: AugmentationCurriculum | None = None
    trainer_variant: str | None = None  # selects a mode (older spelling of `mode:`), see config/modes
    gkd_monitor: bool = False  # gkd runs: log the KD / SFT parts of the loss (src/trainers/gkd.py)
    dump_conversation_text: bool = False
    dump_conversation_path: RepoPath | None = None
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    # Debug/eval budgets: each fusion entry's train pool / each target's eval set is cut to its first
    # N records (file order) before sampling; null = every record.
    train_sample_limit: PositiveInt | None = None
    val_sample_limit: PositiveInt | None = None
    detection_eval: DetectionEvalConfig = Field(default_factory=DetectionEvalConfig)
    preflight: PreflightConfig = Field(default_factory=PreflightConfig)
    # Chat-template / tokenizer drift guard: the sha256 (or a >= 12-digit prefix) of the probe
    # conversation's ids from a previous run's manifest (`template_fingerprint.sha256`), or
    # "recorded" (src/audit/template_fingerprints.json, by model directory name); null = record only.
    template_fingerprint: str | None = None
    # A record longer than the mode's token budget (the plan, `python -m src.datasets.plan`): `error` stops the
    # run before the model loads listing them; `drop` leaves them out; `fit_objects` keeps the objects that fit.
    overlong: Literal["error", "drop", "fit_objects"] = "error"

    @model_validator(mode="after")
    def _curriculum_matches_ops(self) -> CustomConfig:
        check_curriculum(self.augmentation, self.augmentation_curriculum)
        return self

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
