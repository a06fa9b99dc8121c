"""The run directory (`training.output_dir`) is never silently reused.

A directory is *used* when it holds a run manifest or `checkpoint-N` folders. Starting a run in a
used directory fails, before the model loads and without touching a file, unless the command
asks for one of:
- `--resume`: continue from its last complete checkpoint (`last-checkpoint` link when it points
  at a complete one, else the highest `checkpoint-N` holding `trainer_state.json`);
- `--allow-existing-run-dir`: start a new run there; every entry of the previous run is first
  moved (not copied, not deleted) into `previous_runs/<UTC time>/`, so stale checkpoints can
  neither be rotated away by the new run nor be picked by a later `--resume`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from src.config import display_path

from .configcopy import CONFIG_DIR

MANIFEST_NAME = "run_manifest.json"
PREVIOUS_DIR = "previous_runs"
LAST_CHECKPOINT_LINK = "last-checkpoint"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class RunDirError(Exception):
    """A run-directory problem; `str()` is the one-paragraph user-facing message."""


@dataclass(frozen=True)
class RunDirState:
    path: Path
    manifest: Path | None
    checkpoints: tuple[Path, ...]  # complete ones (trainer_state.json written), by step
    incomplete: tuple[Path, ...]

    @property
    def used(self) -> bool:
        return self.manifest is not None or bool(self.checkpoints) or bool(self.incomplete)

    def describe(self) -> str:
        parts = []
        if self.manifest is not None:
            parts.append(f"a run manifest ({MANIFEST_NAME}{_recorded_status(self.manifest)})")
        if self.checkpoints:
            parts.append(f"{len(self.checkpoints)} checkpoint(s), the last {self.checkpoints[-1].name}")
        if self.incomplete:
            parts.append(f"{len(self.incomplete)} incomplete checkpoint folder(s)")
        return " and ".join(parts)


def _recorded_status(manifest: Path) -> str:
    try:
        status = json.loads(manifest.read_text(encoding="utf-8"))["status"]
        return f", run {status['state']} at step {status['global_step']}"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def checkpoint_step(path: Path) -> int | None:
    match = _CHECKPOINT.match(path.name)
    return int(match.group(1)) if match else None


def scan_run_dir(path: Path) -> RunDirState:
    if not path.is_dir():
        return RunDirState(path, None, (), ())
    folders = sorted((p for p in path.iterdir() if p.is_dir() and checkpoint_step(p) is not None),
                     key=lambda p: checkpoint_step(p) or 0)
    complete = tuple(p for p in folders if (p / "trainer_state.json").is_file())
    incomplete = tuple(p for p in folders if p not in complete)
    manifest = path / MANIFEST_NAME
    return RunDirState(path, manifest if manifest.is_file() else None, complete, incomplete)


def last_checkpoint(state: RunDirState) -> Path | None:
    link = state.path / LAST_CHECKPOINT_LINK
    if link.is_symlink():
        target = (state.path / os.readlink(link)).resolve(strict=False)
        for ckpt in state.checkpoints:
            if ckpt.resolve(strict=False) == target:
                return ckpt
    return state.checkpoints[-1] if state.checkpoints else None


@dataclass(frozen=True)
class RunPlan:
    run_dir: Path
    resume_from: Path | None  # the checkpoint to continue from
    archive_previous: bool  # move the previous run's files aside before starting


def _fix_hint(state: RunDirState) -> str:
    last = last_checkpoint(state)
    resume = (f"pass --resume to continue from {last.name}" if last is not None
              else "--resume is not possible (no complete checkpoint)")
    return (f"To fix it, {resume}; or pass --allow-existing-run-dir to start a new run there (the previous "
            f"run's files are moved into {PREVIOUS_DIR}/<time>/ first, nothing is deleted); or choose another "
            f"directory, e.g. training.output_dir={display_path(state.path)}_2 (and training.logging_dir to match).")


def plan_run_dir(run_dir: Path, *, resume: bool, allow_existing: bool, checkpoint: Path | None = None) -> RunPlan:
    """Decide what a launch does with `run_dir`; raises RunDirError when it would reuse it silently.

    `checkpoint` is an explicit `training.resume_from_checkpoint` (a resume by config key)."""
    if resume and allow_existing:
        raise RunDirError("--resume and --allow-existing-run-dir contradict each other: --resume continues the "
                          "run in the directory, --allow-existing-run-dir starts a new one there. Pass one.")
    if resume and checkpoint is not None:
        raise RunDirError(f"--resume picks the last checkpoint of {run_dir}, but training.resume_from_checkpoint "
                          f"already names {checkpoint}. Pass one of the two.")
    if checkpoint is not None:
        if not (checkpoint / "trainer_state.json").is_file():
            raise RunDirError(f"training.resume_from_checkpoint={checkpoint} is not a complete checkpoint (no "
                              "trainer_state.json in it). Point it at a checkpoint-N folder written by a run.")
        state = scan_run_dir(run_dir)
        if not state.used or checkpoint.resolve().parent == run_dir.resolve():
            return RunPlan(run_dir, checkpoint, archive_previous=False)
        if not allow_existing:
            raise RunDirError(f"training.resume_from_checkpoint={checkpoint} continues into {run_dir}, which "
                              f"already holds {state.describe()} of another run; nothing was started and no "
                              f"file was touched. {_fix_hint(state)}")
        return RunPlan(run_dir, checkpoint, archive_previous=True)
    state = scan_run_dir(run_dir)
    if resume:
        last = last_checkpoint(state)
        if last is None:
            found = f" (it holds {state.describe()})" if state.used else ""
            raise RunDirError(f"--resume found no complete checkpoint to continue from in {run_dir}{found}. "
                              "Start the run without --resume, or point training.output_dir at the run "
                              "directory you mean to continue.")
        return RunPlan(run_dir, last, archive_previous=False)
    if state.used and not allow_existing:
        raise RunDirError(f"The run directory {run_dir} (training.output_dir) already holds {state.describe()}: "
                          f"starting here would mix two runs and overwrite or rotate away the old checkpoints, so "
                          f"nothing was started and no file was touched. {_fix_hint(state)}")
    return RunPlan(run_dir, None, archive_previous=state.used)


def archive_previous_run(run_dir: Path, now: dt.datetime | None = None) -> Path | None:
    """Move every entry of `run_dir` except `previous_runs/` into `previous_runs/<UTC time>/`."""
    entries = [p for p in run_dir.iterdir() if p.name != PREVIOUS_DIR] if run_dir.is_dir() else []
    if not entries:
        return None
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    dest = run_dir / PREVIOUS_DIR / stamp
    dest.mkdir(parents=True, exist_ok=False)
    for entry in sorted(entries):
        os.replace(entry, dest / entry.name)
    return dest


__all__ = [
    "CONFIG_DIR",
    "LAST_CHECKPOINT_LINK",
    "MANIFEST_NAME",
    "PREVIOUS_DIR",
    "RunDirError",
    "RunDirState",
    "RunPlan",
    "archive_previous_run",
    "checkpoint_step",
    "last_checkpoint",
    "plan_run_dir",
    "scan_run_dir",
]
