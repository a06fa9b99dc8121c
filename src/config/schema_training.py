"""Launcher-owned keys of the `training` section (not ms-swift arguments).

- `effective_batch_size`: the global batch per optimizer step. At launch the gradient accumulation
  is derived from it: `effective / (per_device_train_batch_size x world size)`, which must divide
  exactly (no silent rounding); writing `gradient_accumulation_steps` as well is an error.
- `save_delay_steps`: no checkpoint is written before this optimizer step (any save strategy,
  `best` included; evaluation and best-metric tracking still run).
- `save_last_epoch`: also write a checkpoint when the final epoch ends (if the strategy did not).

They are validated here, kept out of the ms-swift arguments, and reach the trainer typed
(`TrainingConfig.schedule`). Pure functions; no torch.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError

from .diagnostics import pydantic_problems
from .errors import ConfigError, Problem
from .resolve import ResolvedConfig
from .schema_base import PositiveInt, StrictModel

LAUNCHER_TRAINING_KEYS: tuple[str, ...] = ("effective_batch_size", "save_delay_steps", "save_last_epoch")


class TrainingSchedule(StrictModel):
    effective_batch_size: PositiveInt | None = None
    save_delay_steps: Annotated[int, Field(ge=0)] = 0
    save_last_epoch: bool = False


def split_training(section: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ms-swift arguments, launcher keys) of a `training` section."""
    swift = {k: v for k, v in section.items() if k not in LAUNCHER_TRAINING_KEYS}
    launcher = {k: v for k, v in section.items() if k in LAUNCHER_TRAINING_KEYS}
    return swift, launcher


def schedule_problems(resolved: ResolvedConfig) -> tuple[TrainingSchedule | None, list[Problem]]:
    """The typed launcher keys of `training`, or the problems with them (file:line)."""
    section = resolved.get("training", None)
    if not isinstance(section, dict):
        return TrainingSchedule(), []
    _, raw = split_training(section)
    try:
        schedule = TrainingSchedule.model_validate(raw)
    except ValidationError as exc:
        return None, pydantic_problems(exc, TrainingSchedule, "training", resolved.where)
    problems: list[Problem] = []
    ebs = schedule.effective_batch_size
    if ebs is not None:
        where = resolved.where("training.effective_batch_size")
        gas = section.get("gradient_accumulation_steps")
        if gas is not None:
            problems.append(Problem(
                f"conflicts with training.gradient_accumulation_steps = {gas!r} "
                f"({resolved.where('training.gradient_accumulation_steps')}): the accumulation is derived "
                "from effective_batch_size at launch (effective / (per_device_train_batch_size x world size)). "
                "Keep one of the two.", key="training.effective_batch_size", where=where))
        per_device = section.get("per_device_train_batch_size", 1)
        if isinstance(per_device, int) and per_device > 0 and ebs % per_device:
            problems.append(Problem(
                f"{ebs} is not a multiple of training.per_device_train_batch_size = {per_device}; no "
                "gradient accumulation gives that global batch on any number of devices. Make "
                "effective_batch_size a multiple of the per-device batch.",
                key="training.effective_batch_size", where=where))
    return (None if problems else schedule), problems


def gradient_accumulation_steps(effective_batch_size: int, per_device_train_batch_size: int, world_size: int) -> int:
    """`effective / (per_device x world_size)`; ConfigError when it does not divide exactly."""
    if min(effective_batch_size, per_device_train_batch_size, world_size) <= 0:
        raise ValueError("batch sizes and world size must be positive")
    per_step = per_device_train_batch_size * world_size
    steps, rest = divmod(effective_batch_size, per_step)
    if rest or steps == 0:
        raise ConfigError([Problem(
            f"training.effective_batch_size = {effective_batch_size} is not a multiple of "
            f"per_device_train_batch_size ({per_device_train_batch_size}) x world size ({world_size}) = "
            f"{per_step}, so no whole number of gradient-accumulation steps gives it. Launch on a number "
            "of devices that divides it, or change effective_batch_size / per_device_train_batch_size.",
            key="training.effective_batch_size")])
    return steps
