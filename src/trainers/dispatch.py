"""One dispatch point from the typed config to the trainer that runs it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from src.config import TrainingConfig

logger = logging.getLogger(__name__)


class ModeNotAvailable(RuntimeError):
    """The config asks for a training mode this build cannot run."""


def run_sft(cfg: TrainingConfig) -> dict[str, Any]:
    from src.datasets.builder import build_training_datasets

    from .detection_eval import trainer_extensions
    from .swift_boundary import swift_arguments
    from .swift_pipeline import LauncherSft

    args = swift_arguments(cfg)  # ms-swift's rejections become ConfigError (exit 2) before weights load
    return LauncherSft(args, build_datasets=partial(build_training_datasets, cfg),
                       telemetry=cfg.custom.telemetry, trainer_extensions=trainer_extensions(cfg),
                       template_fingerprint=cfg.custom.template_fingerprint, save_schedule=cfg.schedule,
                       conversation_dump=cfg.conversation_dump_path).main()


def run_rlhf(cfg: TrainingConfig) -> dict[str, Any]:
    """GKD / GRPO. Server mode is checked before ms-swift is imported: `RLHFArguments` connects at
    construction. Config problems found here (server mode, reward names) raise `ConfigError`."""
    from .server_mode import validate_server_mode

    validate_server_mode(cfg)
    if cfg.mode == "gkd":
        from .gkd import run_gkd as runner
    else:
        from .grpo import run_grpo as runner
    return runner(cfg)


def run_stage2(cfg: TrainingConfig) -> dict[str, Any]:
    """Stage-2 AB: channel A (ground truth) / channel B (own rollouts) per step (src/trainers/stage2_ab.py)."""
    from .stage2_ab import run_stage2_ab

    return run_stage2_ab(cfg)


RUNNERS: dict[str, Callable[[TrainingConfig], dict[str, Any]]] = {
    "sft": run_sft,
    "gkd": run_rlhf,
    "grpo": run_rlhf,
    "stage2_ab": run_stage2,
}


def run_training(cfg: TrainingConfig) -> dict[str, Any]:
    runner = RUNNERS.get(cfg.mode)
    if runner is None:
        raise ModeNotAvailable(
            f"{cfg.source.display} asks for training mode {cfg.mode!r}, which this build cannot run yet "
            f"(available: {', '.join(sorted(RUNNERS))})."
        )
    logger.info("dispatching %s run of %s", cfg.mode, cfg.source.display)
    return runner(cfg)
