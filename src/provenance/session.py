"""One launch of a run: the run-directory plan, the manifest it writes, and its final status.

`src/sft.py` creates the session (after the run-directory guard) and runs training inside
`session.track()`, handing the session to the trainer pipeline, which installs its callback: it writes the
manifest on rank 0 at `on_train_begin` (before the first optimizer step) and updates it at every
save and at the end. Only rank 0 writes; every rank takes part in the count reduction.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.config import REPO_ROOT, TrainingConfig

from .configcopy import copy_chain
from .manifest import as_json, build_manifest, command_record, load_manifest, now_iso, write_manifest
from .probes import environment, git_state, package_versions
from .rundir import RunPlan, archive_previous_run, last_checkpoint, scan_run_dir

logger = logging.getLogger(__name__)
RESUME_KEY = "training.resume_from_checkpoint"


class RunInterrupted(BaseException):
    """SIGTERM (or SIGINT) during training: recorded as `interrupted`, then the process exits."""

    def __init__(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"training interrupted by {self.signal_name}")


def is_rank_zero() -> bool:
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


@dataclass
class RunSession:
    cfg: TrainingConfig
    plan: RunPlan
    argv: list[str]
    overrides: list[str]  # as the user wrote them (without the resume override we add)
    flags: dict[str, Any]
    manifest: dict[str, Any] | None = None  # rank 0, once training began
    global_step: int = 0
    count_base: dict[str, int] | None = field(default_factory=dict)  # realized before this launch
    launch_env: dict[str, str] = field(default_factory=environment)  # as launched (libraries edit os.environ)
    template_fingerprint: dict[str, Any] | None = None  # set by the launcher once the template is built
    resume_check: Any = None  # resume.ResumeCheck of a resume into this run directory (launch.py)
    preexisting_checkpoints: list[str] = field(default_factory=list)  # checkpoint folders before this resume

    @property
    def run_dir(self) -> Path:
        return self.plan.run_dir

    # ------------------------------------------------------------------ launch
    def activate(self) -> RunSession:
        """Start the run: rank 0 moves a previous run aside when the plan says so."""
        if self.plan.archive_previous and is_rank_zero():
            moved = archive_previous_run(self.run_dir)
            logger.warning("--allow-existing-run-dir: moved the previous run in %s to %s", self.run_dir, moved)
        resume = self.plan.resume_from
        logger.info("run directory %s: %s", self.run_dir, "a new run" if resume is None else f"resuming from {resume}")
        return self

    def callback(self, train_dataset: Any) -> Any:
        from .callback import ProvenanceCallback

        return ProvenanceCallback(self, train_dataset)

    @contextlib.contextmanager
    def track(self) -> Iterator[RunSession]:
        """Record `completed`, `failed` (exception type) or `interrupted` (signal) when training ends."""
        handler_installed = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _raise_interrupt) if handler_installed else None
        try:
            yield self
        except RunInterrupted as exc:
            self.finish("interrupted", exc, signal_name=exc.signal_name)
            raise
        except KeyboardInterrupt as exc:
            self.finish("interrupted", exc, signal_name="SIGINT")
            raise
        except BaseException as exc:
            self.finish("failed", exc)
            raise
        else:
            self.finish("completed")
        finally:
            if handler_installed:
                signal.signal(signal.SIGTERM, previous)

    # ------------------------------------------------------------------ rank-0 manifest updates
    def begin(self, train_dataset: Any, global_step: int) -> None:
        """Write the manifest (fresh run) or append the resume to it (resumed run)."""
        self.global_step = global_step
        resume = self.plan.resume_from
        existing = load_manifest(self.run_dir) if resume is not None else None
        manifest = existing if existing is not None else self._fresh_manifest()
        expected_counts = getattr(train_dataset, "expected_counts", None)
        expected = expected_counts() if callable(expected_counts) else None
        if existing is None:
            manifest["created_at_step"] = global_step  # 0 unless resumed from another directory
            manifest["datasets"]["expected_counts"] = expected
            manifest["datasets"]["epoch_length"] = _length(train_dataset)
            manifest["datasets"]["overlong"] = getattr(train_dataset, "overlong", None)  # custom.overlong's counts
        if resume is not None:
            manifest["resumes"].append(self._resume_entry(manifest, resume, global_step, expected))
        manifest["status"] = _status("running", global_step)
        self.manifest = manifest
        write_manifest(self.run_dir, manifest)
        logger.info("run manifest written to %s", self.run_dir / "run_manifest.json")

    def record_save(self, global_step: int, counts: dict[str, int] | None, epoch: int | None) -> None:
        if self.manifest is None:
            return
        cumulative, exact = self._cumulative(counts)
        self.manifest["checkpoints"].append({
            "name": f"checkpoint-{global_step}", "global_step": global_step, "saved_at": now_iso(),
            "epoch": epoch, "realized_counts": cumulative, "counts_cumulative": exact,
        })
        self._record_removed_checkpoints()
        self.record_counts(global_step, counts)

    def _record_removed_checkpoints(self) -> None:
        """Checkpoints the rotation (`training.save_total_limit`) deleted: marked in the manifest, and a
        warning for each one that existed before this launch."""
        assert self.manifest is not None
        for record in self.manifest["checkpoints"]:
            if record.get("removed_at") is None and not (self.run_dir / record["name"]).exists():
                record["removed_at"] = now_iso()
        for name in list(self.preexisting_checkpoints):
            if not (self.run_dir / name).exists():
                self.preexisting_checkpoints.remove(name)
                logger.warning("%s, saved before this resume, was deleted by the checkpoint rotation "
                               "(training.save_total_limit=%s)", name, self.cfg.training.get("save_total_limit"))

    def record_counts(self, global_step: int, counts: dict[str, int] | None) -> None:
        if self.manifest is None:
            return
        cumulative, exact = self._cumulative(counts)
        self.global_step = global_step
        self.manifest["realized_counts"] = None if cumulative is None else {
            "per_dataset": cumulative, "global_step": global_step, "cumulative": exact, "updated_at": now_iso(),
        }
        self.manifest["status"] = _status("running", global_step)
        write_manifest(self.run_dir, self.manifest)

    def finish(self, state: str, exc: BaseException | None = None, signal_name: str | None = None) -> None:
        if self.manifest is None or not is_rank_zero():
            if exc is not None:
                logger.info("training ended (%s) before the run manifest was written", state)
            return
        self.manifest["status"] = _status(state, self.global_step, exc, signal_name)
        write_manifest(self.run_dir, self.manifest)
        if state == "completed":
            logger.info(self.summary())

    def summary(self) -> str:
        """Where a finished run's results are (the last line of a run's console output)."""
        last = last_checkpoint(scan_run_dir(self.run_dir))
        tensorboard = "tensorboard" in (self.cfg.training.get("report_to") or []) and self.cfg.logging_dir
        return (f"done at step {self.global_step}: final checkpoint {last if last is not None else '(none saved)'}; "
                f"in {self.run_dir}: run_manifest.json, logging.jsonl (one line per logged step), logs/train.log "
                f"(the full log){f', TensorBoard events in {self.cfg.logging_dir}' if tensorboard else ''}. "
                f"Evaluate: python -m src.eval {self.run_dir}")

    # ------------------------------------------------------------------ helpers
    def _fresh_manifest(self) -> dict[str, Any]:
        cfg = self.cfg
        fusion = cfg.fusion  # the one the config was validated with (never re-read)
        command = command_record(self.argv, self.overrides, self.flags)
        manifest = build_manifest(cfg, fusion, self.run_dir, command)
        manifest["environment"] = self.launch_env
        manifest["template_fingerprint"] = self.template_fingerprint
        chains = [("training", cfg.chain)] + ([("fusion", fusion.chain)] if fusion is not None else [])
        manifest["config"]["files"] = copy_chain(self.run_dir, chains)
        if self.plan.resume_from is not None:
            self.count_base = None  # what ran before lives in another run directory
        return manifest

    def _resume_entry(self, manifest: dict[str, Any], checkpoint: Path, global_step: int,
                      expected: dict[str, int] | None) -> dict[str, Any]:
        from .diff import changed_keys  # the config tools' diff engine, needed only here

        record = next((c for c in manifest["checkpoints"] if c["name"] == checkpoint.name
                       and checkpoint.parent.resolve() == self.run_dir.resolve()), None)
        self.count_base = record["realized_counts"] if record and record.get("counts_cumulative") else None
        check = self.resume_check
        if check is None:  # resumed from another run's checkpoint: nothing recorded here to compare with
            recorded, current = as_json(manifest["config"]["resolved"]), as_json(self.cfg.resolved)
            for tree in (recorded, current):  # where to resume from is not a config change
                tree.get("training", {}).pop(RESUME_KEY.split(".")[1], None)
            changes = changed_keys(recorded, current)
        else:
            changes = [d.key for d in check.differences]
        versions = package_versions()
        old_versions = manifest.get("versions") or {}
        entry = {
            "resumed_at": now_iso(),
            "checkpoint": _relative(checkpoint, self.run_dir),
            "global_step": global_step,
            "argv": list(self.argv),
            "overrides": list(self.overrides),
            "project_git_sha": git_state(REPO_ROOT)["sha"],
            "environment": self.launch_env,
            "config_changes": changes,
            "config_check": None if check is None else check.record(),
            "version_changes": {k: [old_versions.get(k), v] for k, v in versions.items() if old_versions.get(k) != v},
            "expected_counts_changed": expected != manifest["datasets"].get("expected_counts"),
            "realized_counts_base": self.count_base,
            "template_fingerprint": self.template_fingerprint,
        }
        before = (manifest.get("template_fingerprint") or {}).get("sha256")
        after = (self.template_fingerprint or {}).get("sha256")
        if before and after and before != after:
            logger.warning("resuming with a chat template / tokenizer that renders differently from the recorded run "
                           "(template fingerprint %s -> %s): the training objective changed", before[:12], after[:12])
        if check is not None and check.accepted:  # later resumes compare with this launch's config
            entry["recorded_state"] = check.state
        elif check is None and entry["config_changes"]:
            logger.warning("resuming with a config that differs from the recorded one at: %s",
                           ", ".join(entry["config_changes"]))
        return entry

    def _cumulative(self, counts: dict[str, int] | None) -> tuple[dict[str, int] | None, bool]:
        if counts is None:
            return None, False
        if self.count_base is None:
            return dict(counts), False
        return {k: int(self.count_base.get(k, 0)) + int(v) for k, v in counts.items()}, True


def _length(dataset: Any) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _status(state: str, global_step: int, exc: BaseException | None = None,
            signal_name: str | None = None) -> dict[str, Any]:
    message = None
    if exc is not None and not isinstance(exc, (RunInterrupted, KeyboardInterrupt)):
        message = (str(exc).strip().splitlines() or [""])[0][:500]
    return {
        "state": state, "updated_at": now_iso(), "global_step": global_step,
        "error_type": None if exc is None or signal_name else f"{type(exc).__module__}.{type(exc).__qualname__}",
        "error": message, "signal": signal_name,
    }


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise RunInterrupted(signum)
