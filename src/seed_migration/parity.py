"""The parity profile (seed 001): which differences between two resolved configs are allowed.

Parity means a migrated preset trains exactly like the old one. Allowed: run identity,
telemetry, checkpoint/eval scheduling, and - only when `custom.augmentation.enabled` resolves to
false on both sides - anything under `custom.augmentation*` / `custom.augmentation_curriculum*`
(the training entry point ignores augmentation ops and curriculum when augmentation is off).
Everything else is forbidden, including any difference in the resolved fusion selection
(`custom.fusion_config` or the datasets it resolves to).

`parity_profile` is what `diff --profile parity` runs (a `Profile` of the config tools, added
through this package's `Extension`); `migration_parity` judges a migrated preset with `parity_reason`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from src.config.schema_custom import AugmentationConfig
from src.config.tools.commands import Classify
from src.config.tools.diffing import FUSION_PREFIX
from src.config.tools.loading import LoadedConfig

RUN_IDENTITY = "run identity"
TELEMETRY = "telemetry"
SCHEDULING = "checkpoint/eval scheduling"
AUGMENTATION_OFF = "augmentation disabled on both sides"

PARITY_ALLOWLIST: dict[str, str] = {
    "training.output_dir": RUN_IDENTITY,
    "training.logging_dir": RUN_IDENTITY,
    "training.run_name": RUN_IDENTITY,
    "custom.dump_conversation_text": RUN_IDENTITY,
    "custom.dump_conversation_path": RUN_IDENTITY,
    "training.logging_steps": TELEMETRY,
    "training.logging_first_step": TELEMETRY,
    "training.log_level": TELEMETRY,
    "training.log_level_replica": TELEMETRY,
    "training.report_to": TELEMETRY,
    "training.save_strategy": SCHEDULING,
    "training.save_steps": SCHEDULING,
    "training.save_total_limit": SCHEDULING,
    "training.save_last_epoch": SCHEDULING,
    "training.eval_strategy": SCHEDULING,
    "training.eval_steps": SCHEDULING,
    "training.metric_for_best_model": SCHEDULING,
    "training.greater_is_better": SCHEDULING,
    "custom.detection_eval": SCHEDULING,  # greedy generation between steps: no RNG, no weight change
}
AUGMENTATION_KEYS: tuple[str, ...] = ("custom.augmentation", "custom.augmentation_curriculum")


def _under(path: str, key: str) -> bool:
    return path == key or path.startswith((key + ".", key + "["))


def augmentation_disabled(data: Mapping[str, Any]) -> bool:
    """Whether `custom.augmentation.enabled` resolves to false (absent means the schema default)."""
    custom = data.get("custom")
    augmentation = custom.get("augmentation") if isinstance(custom, dict) else None
    if not isinstance(augmentation, dict) or "enabled" not in augmentation:
        return AugmentationConfig.model_fields["enabled"].default is False
    return augmentation["enabled"] is False


def parity_reason(path: str, augmentation_off_both: bool) -> str | None:
    """The allowlist category of a differing dotted path, or None when the difference is forbidden."""
    if path.startswith(FUSION_PREFIX):
        return None
    for key, reason in PARITY_ALLOWLIST.items():
        if _under(path, key):
            return reason
    if augmentation_off_both and any(_under(path, key) for key in AUGMENTATION_KEYS):
        return AUGMENTATION_OFF
    return None


def parity_profile(left: LoadedConfig, right: LoadedConfig) -> Classify:
    """The parity classifier of one pair of configs (augmentation is judged off only for training configs)."""
    off_both = left.kind == "training" and augmentation_disabled(left.data) and augmentation_disabled(right.data)
    return partial(parity_reason, augmentation_off_both=off_both)
