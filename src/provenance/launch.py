"""From a validated config and the launch flags to an active run session (no torch imported).

Runs on every rank before anything heavy loads: the run-directory guard (`rundir.plan_run_dir`)
raises `RunDirError` with the user-facing message; `--resume` re-resolves the config with
`training.resume_from_checkpoint=<last checkpoint>` added as one more override layer, which is
how ms-swift/HF restore weights, optimizer, scheduler, RNG states and the data position.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from src.config import TrainingConfig, load_training_config, resolve_repo_path

from .rundir import RunDirError, plan_run_dir
from .session import RESUME_KEY, RunSession


def open_run(
    cfg: TrainingConfig,
    config_path: str | Path,
    overrides: Sequence[str],
    *,
    resume: bool,
    allow_existing: bool,
    argv: Sequence[str] | None = None,
) -> tuple[TrainingConfig, RunSession]:
    run_dir = cfg.output_dir
    if run_dir is None:
        raise RunDirError("training.output_dir is not set: every run needs its own run directory.")
    explicit = cfg.training.get("resume_from_checkpoint")
    checkpoint = resolve_repo_path(explicit) if isinstance(explicit, str) and explicit else None
    plan = plan_run_dir(run_dir, resume=resume, allow_existing=allow_existing, checkpoint=checkpoint)
    if resume and plan.resume_from is not None:
        pinned = f"{RESUME_KEY}={json.dumps(str(plan.resume_from))}"
        cfg = load_training_config(config_path, overrides=[*overrides, pinned])
    flags = {"resume": resume, "allow_existing_run_dir": allow_existing,
             "resume_from": None if plan.resume_from is None else str(plan.resume_from)}
    session = RunSession(cfg, plan, argv=list(sys.argv if argv is None else argv), overrides=list(overrides),
                         flags=flags)
    return cfg, session.activate()
