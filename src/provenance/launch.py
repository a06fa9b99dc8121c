"""From a validated config and the launch flags to an active run session (no torch imported).

Runs on every rank before anything heavy loads: the run-directory guard (`rundir.plan_run_dir`)
raises `RunDirError` with the user-facing message; `--resume` re-resolves the config with
`training.resume_from_checkpoint=<last checkpoint>` added as one more override layer, which is
how ms-swift/HF restore weights, optimizer, scheduler, RNG states and the data position. A resume
into its own run directory is checked against the recorded run first (`resume.py`): a changed
config stops it unless accepted with `--allow-config-change`, and a finished run trains nothing
(`NothingToResume`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from src.config import TrainingConfig, load_training_config, resolve_repo_path

from .manifest import load_manifest
from .resume import (
    LENGTH_KEYS,
    NothingToResume,
    ResumeCheck,
    check_differences,
    config_differences,
    current_state,
    finished_at,
    recorded_state,
)
from .rundir import RunDirError, RunPlan, plan_run_dir, scan_run_dir
from .session import RESUME_KEY, RunSession

logger = logging.getLogger(__name__)


def open_run(
    cfg: TrainingConfig,
    config_path: str | Path,
    overrides: Sequence[str],
    *,
    resume: bool,
    allow_existing: bool,
    allow_changes: Sequence[str] = (),
    argv: Sequence[str] | None = None,
) -> tuple[TrainingConfig, RunSession]:
    run_dir = cfg.output_dir
    if run_dir is None:
        raise RunDirError("training.output_dir is not set: every run needs its own run directory.")
    explicit = cfg.training.get("resume_from_checkpoint")
    checkpoint = resolve_repo_path(explicit) if isinstance(explicit, str) and explicit else None
    plan = plan_run_dir(run_dir, resume=resume, allow_existing=allow_existing, checkpoint=checkpoint)
    if allow_changes and plan.resume_from is None:
        raise RunDirError(f"--allow-config-change {' '.join(allow_changes)} accepts differences from a recorded run "
                          "when resuming it; this launch resumes nothing. Add --resume, or drop the flag.")
    check, existing = None, []
    if resume and plan.resume_from is not None:
        pinned = f"{RESUME_KEY}={json.dumps(str(plan.resume_from))}"
        cfg = load_training_config(config_path, overrides=[*overrides, pinned])
    if plan.resume_from is not None and plan.resume_from.parent.resolve() == run_dir.resolve():
        check = check_resume(cfg, plan, overrides, allow_changes)
        state = scan_run_dir(run_dir)
        existing = [p.name for p in (*state.checkpoints, *state.incomplete)]  # never deleted without a word
        _announce_rotation(cfg, existing)
    flags = {"resume": resume, "allow_existing_run_dir": allow_existing,
             "resume_from": None if plan.resume_from is None else str(plan.resume_from),
             "allow_config_change": list(allow_changes)}
    session = RunSession(cfg, plan, argv=list(sys.argv if argv is None else argv), overrides=list(overrides),
                         flags=flags, resume_check=check, preexisting_checkpoints=existing)
    return cfg, session  # the caller activates it once its own pre-flight checks pass


def check_resume(cfg: TrainingConfig, plan: RunPlan, overrides: Sequence[str],
                 allowed: Sequence[str]) -> ResumeCheck | None:
    """Compare with the recorded run; raises RunDirError (refused) or NothingToResume (finished)."""
    assert plan.resume_from is not None
    manifest = load_manifest(plan.run_dir)
    check = ResumeCheck(allowed=list(allowed))
    if manifest is not None:
        check.state = current_state(cfg, overrides)
        check.differences = config_differences(recorded_state(manifest), cfg, check.state)
        check_differences(check.differences, allowed, plan.run_dir, recorded_state(manifest)["overrides"])
        for d in check.differences:
            if d.harmless is not None:
                logger.info("resume: harmless difference from the recorded run: %s (%s)", d.render(), d.harmless)
            else:
                logger.warning("resume: accepted difference from the recorded run (--allow-config-change): %s",
                               d.render())
    finished = finished_at(manifest, plan.resume_from)
    if finished is None:
        return check
    extension = [d for d in check.accepted if d.key in LENGTH_KEYS]
    if not extension:
        raise NothingToResume(
            f"nothing to resume: the run in {plan.run_dir} is finished ({finished}), so --resume trained nothing "
            f"and touched no file. To train it further on purpose, raise training.max_steps (or "
            f"training.num_train_epochs) and add --allow-config-change training.max_steps; to evaluate it: "
            f"python -m src.eval {plan.run_dir}")
    check.extends_finished_run = True
    logger.warning("resume: extending the finished run in %s (%s) from %s: %s", plan.run_dir, finished,
                   plan.resume_from.name, "; ".join(d.render() for d in extension))
    return check


def _announce_rotation(cfg: TrainingConfig, existing: list[str]) -> None:
    limit = cfg.training.get("save_total_limit")
    if isinstance(limit, int) and limit > 0 and len(existing) >= limit:
        logger.warning("resume: training.save_total_limit=%d keeps only the newest %d checkpoint(s), so %s (saved "
                       "before this resume) may be deleted by the rotation once newer ones are saved; each deletion "
                       "is logged and recorded in run_manifest.json", limit, limit, ", ".join(existing))
