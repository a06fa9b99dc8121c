"""`TrainingConfig`: the one validated object the rest of the program receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fusion import FusionConfig
from .modes import Mode, ModeSpec, spec_of
from .paths import resolve_repo_path
from .resolve import ResolvedConfig
from .schema_custom import CustomConfig
from .schema_stage2 import RolloutMatchingConfig, Stage2ABConfig
from .schema_training import TrainingSchedule

# Keys whose values are paths (repo-relative unless absolute). They stay as written in the
# resolved config and become absolute in `build_swift_kwargs` and the accessors below.
PATH_KEYS: tuple[str, ...] = (
    "model.model",
    "training.output_dir",
    "training.logging_dir",
    "training.resume_from_checkpoint",
    "tuner.adapters",
    "rlhf.teacher_model",
    "rlhf.teacher_adapters",
    "rlhf.ref_model",
    "rlhf.ref_adapters",
    "rlhf.reward_model",
    "rlhf.reward_adapters",
    "custom.fusion_config",
    "custom.dump_conversation_path",
)


@dataclass(frozen=True)
class TrainingConfig:
    """A resolved, validated training config.

    ms-swift sections are plain dicts of ms-swift argument names (validated against the
    snapshot, proxied lengths included; `deepspeed` uses the key `config` for ms-swift's
    `deepspeed`). `source` holds the chain, per-key origins and the resolved mapping.
    `fusion` is the fusion config `custom.fusion_config` names, resolved and validated once by the
    loader (None when the config names none): consumers read it here, never re-load the file.
    """

    mode: Mode
    global_max_length: int | None
    model: dict[str, Any]
    template: dict[str, Any]
    tuner: dict[str, Any]
    training: dict[str, Any]
    data: dict[str, Any]
    rlhf: dict[str, Any]
    deepspeed: dict[str, Any]
    quantization: dict[str, Any]
    custom: CustomConfig
    stage2_ab: Stage2ABConfig | None
    rollout_matching: RolloutMatchingConfig | None
    source: ResolvedConfig
    # launcher keys of `training` (effective_batch_size, save_delay_steps, save_last_epoch); they are
    # not in `training`, which holds ms-swift arguments only
    schedule: TrainingSchedule = field(default_factory=TrainingSchedule)
    # the typed fusion config (targets, sources, its own chain of files); set by the validator
    fusion: FusionConfig | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # `fusion` must be the file `custom.fusion_config` names (also after dataclasses.replace)
        path = self.fusion_config_path
        if (self.fusion is None) != (path is None) or (
                self.fusion is not None and path is not None and self.fusion.path != path.resolve()):
            raise ValueError(f"TrainingConfig.fusion ({None if self.fusion is None else self.fusion.path}) does "
                             f"not match custom.fusion_config ({self.custom.fusion_config}); build the config "
                             "with load_training_config")

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def chain(self) -> tuple[str, ...]:
        return self.source.chain

    @property
    def resolved(self) -> dict[str, Any]:
        """The resolved mapping (after extends, overrides and length proxies)."""
        return self.source.data

    @property
    def spec(self) -> ModeSpec:
        """What the run's mode is and can do (src/config/modes/<mode>.py)."""
        return spec_of(self.mode)

    @property
    def is_rlhf(self) -> bool:
        return self.spec.is_rlhf

    def _abs(self, value: Any) -> Path | None:
        return resolve_repo_path(value) if isinstance(value, str) and value else None

    @property
    def model_path(self) -> Path | None:
        return self._abs(self.model.get("model"))

    @property
    def output_dir(self) -> Path | None:
        return self._abs(self.training.get("output_dir"))

    @property
    def logging_dir(self) -> Path | None:
        return self._abs(self.training.get("logging_dir"))

    @property
    def fusion_config_path(self) -> Path | None:
        return self._abs(self.custom.fusion_config)

    @property
    def conversation_dump_path(self) -> Path | None:
        """Where `custom.dump_conversation_text` writes (None when off); default <output_dir>/conversation_text.txt."""
        if not self.custom.dump_conversation_text:
            return None
        return self._abs(self.custom.dump_conversation_path) or self.output_dir / "conversation_text.txt"
