"""One dispatch point from the typed config to the trainer that runs it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from src.config import TrainingConfig
from src.provenance import RunSession

logger = logging.getLogger(__name__)


class ModeNotAvailable(RuntimeError):
    """The config asks for a training mode this build cannot run."""


def run_sft(cfg: TrainingConfig, session: RunSession | None = None) -> dict[str, Any]:
    from .sft import run_sft as runner

    return runner(cfg, session)


def run_rlhf(cfg: TrainingConfig, session: RunSession | None = None) -> dict[str, Any]:
    """GKD / GRPO. Server mode is checked before ms-swift is imported: `RLHFArguments` connects at
    construction. Config problems found here (server mode, reward names) raise `ConfigError`."""
    from src.config.server_mode import validate_server_mode

    validate_server_mode(cfg)
    if cfg.mode == "gkd":
        from .gkd import run_gkd as runner
    else:
        from .grpo import run_grpo as runner
    return runner(cfg, session)


def run_stage2(cfg: TrainingConfig, session: RunSession | None = None) -> dict[str, Any]:
    """Stage-2 AB: channel A (ground truth) / channel B (own rollouts) per step (src/trainers/stage2_ab.py)."""
    from .stage2_ab import run_stage2_ab

    return run_stage2_ab(cfg, session)


# mode -> recipe runner (src/trainers/<mode>.py), each taking the typed config and the run session
RUNNERS: dict[str, Callable[[TrainingConfig, RunSession | None], dict[str, Any]]] = {
    "sft": run_sft,
    "gkd": run_rlhf,
    "grpo": run_rlhf,
    "stage2_ab": run_stage2,
}


def run_training(cfg: TrainingConfig, session: RunSession | None = None) -> dict[str, Any]:
    runner = RUNNERS.get(cfg.mode)
    if runner is None:
        raise ModeNotAvailable(
            f"{cfg.source.display} asks for training mode {cfg.mode!r}, which this build cannot run yet "
            f"(available: {', '.join(sorted(RUNNERS))})."
        )
    logger.info("dispatching %s run of %s: model %s", cfg.mode, cfg.source.display, cfg.model.get("model"))
    return runner(cfg, session)
