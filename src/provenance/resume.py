"""What a `--resume` may continue: the checks that run before anything heavy loads (no torch).

A resume continues the recorded run exactly, or it does not start:
- `config_differences`: every difference between the recorded run (the original launch, or the
  last resume that accepted changes) and the config now given: resolved keys, fusion entries and
  the content of the JSONL files. Each names the key, both values and where each came from.
- `check_differences`: a difference outside `HARMLESS_KEYS` stops the launch (exit 2) unless
  `--allow-config-change KEY` names it (KEY covers the keys below it); the manifest records what
  was accepted.
- `completion`: a run that already reached its end trains nothing; extending it is an explicit
  change of `training.max_steps` / `training.num_train_epochs` accepted with `--allow-config-change`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from src.config import TrainingConfig, display_path, resolve_repo_path

from .datafiles import dataset_files
from .diff import diff_trees, render_value
from .manifest import as_json
from .rundir import RunDirError

RESUME_FIELD = "resume_from_checkpoint"
# Keys whose value changes neither the samples, the numbers computed from them, nor what is written
# where: only how fast the host feeds the model (docs/provenance.md lists them).
HARMLESS_KEYS: dict[str, str] = {
    "training.dataloader_num_workers": "worker processes only: a sample is a pure function of (seed, epoch, position)",
    "training.dataloader_pin_memory": "host memory pinning only",
    "training.dataloader_prefetch_factor": "batches fetched ahead only",
    "training.dataloader_persistent_workers": "worker lifetime only",
    "training.dataloader_multiprocessing_context": "how workers start only",
    "training.disable_tqdm": "the console progress bar only",
}
# Accepting a change of one of these on a finished run is what extends it.
LENGTH_KEYS = ("training.max_steps", "training.num_train_epochs")


@dataclass(frozen=True)
class Difference:
    key: str
    recorded: Any
    new: Any
    recorded_from: str
    new_from: str
    harmless: str | None = None  # why it cannot change training, for a harmless key

    def render(self) -> str:
        return (f"{self.key}: recorded {render_value(self.recorded)} (from {self.recorded_from}), now "
                f"{render_value(self.new)} (from {self.new_from})")


@dataclass
class ResumeCheck:
    """The outcome of the checks, carried by the run session into the manifest's resume entry."""

    differences: list[Difference] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # as given with --allow-config-change
    extends_finished_run: bool = False
    state: dict[str, Any] | None = None  # the config now (current_state), recorded when changes were accepted

    @property
    def accepted(self) -> list[Difference]:
        return [d for d in self.differences if d.harmless is None]

    def record(self) -> dict[str, Any]:
        return {"allowed": list(self.allowed), "extends_finished_run": self.extends_finished_run,
                "differences": [as_json(asdict(d)) for d in self.differences]}


def _covers(prefix: str, key: str) -> bool:
    return key == prefix or key.startswith((prefix + ".", prefix + "["))


def _origin(origins: dict[str, Any], key: str) -> str:
    """The recorded origin of `key` or of the leaf holding it (lists are leaves)."""
    probe = key
    while probe:
        if probe in origins:
            return str(origins[probe]["origin"])
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return "not set"


def recorded_state(manifest: dict[str, Any]) -> dict[str, Any]:
    """The config the run last trained with: the last resume that accepted changes, else the launch."""
    for resume in reversed(manifest.get("resumes", [])):
        if resume.get("recorded_state"):
            return resume["recorded_state"]
    config = manifest["config"]
    return {"resolved": config["resolved"], "origins": config["origins"],
            "fusion": (config.get("fusion") or {}).get("resolved"),
            "data_files": (manifest.get("datasets") or {}).get("files", []),
            "overrides": manifest["command"].get("overrides", [])}


def current_state(cfg: TrainingConfig, overrides: Sequence[str]) -> dict[str, Any]:
    return {"resolved": as_json(cfg.resolved), "origins": cfg.source.explain(),
            "fusion": None if cfg.fusion is None else as_json(cfg.fusion.to_dict()),
            "data_files": dataset_files(cfg.fusion) if cfg.fusion is not None else [],
            "overrides": list(overrides)}


def _without_resume_key(tree: dict[str, Any]) -> dict[str, Any]:
    tree = json.loads(json.dumps(tree))
    tree.get("training", {}).pop(RESUME_FIELD, None)  # where to resume from is not a config change
    return tree


def _fusion_tree(fusion: dict[str, Any] | None) -> dict[str, Any]:
    from src.config.tools.loading import key_fusion_entries

    return {} if fusion is None else key_fusion_entries(fusion)


def _data_by_key(files: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"datasets.{row['dataset']}.{row['split']}": row for row in files}


def config_differences(recorded: dict[str, Any], cfg: TrainingConfig, current: dict[str, Any]) -> list[Difference]:
    out = []
    before, now = _without_resume_key(recorded["resolved"]), _without_resume_key(current["resolved"])
    for change in diff_trees(before, now):
        harmless = HARMLESS_KEYS.get(change.path) or _moved_with_run_dir(change.path, before, now)
        out.append(Difference(change.path, change.left, change.right, _origin(recorded["origins"], change.path),
                              cfg.source.where(change.path), harmless))
    fusion_from = cfg.custom.fusion_config or "not set"
    for change in diff_trees(_fusion_tree(recorded["fusion"]), _fusion_tree(current["fusion"]), "fusion"):
        out.append(Difference(change.path, change.left, change.right, "the recorded fusion config",
                              f"the fusion config {fusion_from}"))
    before, after = _data_by_key(recorded["data_files"]), _data_by_key(current["data_files"])
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, {}), after.get(key, {})
        if (old.get("path"), old.get("sha256")) != (new.get("path"), new.get("sha256")):
            out.append(Difference(key, _data_label(old), _data_label(new), "the recorded data files",
                                  "the files on disk now"))
    return out


def _moved_with_run_dir(key: str, before: dict[str, Any], now: dict[str, Any]) -> str | None:
    """The run directory was moved (or is named another way): its own path, and the paths inside it
    at the same place, are the same run. Only these keys; any other path is a real difference."""
    if key not in ("training.output_dir", "training.logging_dir"):
        return None
    if key == "training.output_dir":
        return "the run directory being resumed (moved or renamed)"
    (old_dir, old_log), (new_dir, new_log) = (
        (resolve_repo_path(str(t["training"].get(k))) for k in ("output_dir", "logging_dir")) for t in (before, now))
    try:
        same = old_log.relative_to(old_dir) == new_log.relative_to(new_dir)
    except ValueError:
        return None
    return "the same place inside the moved run directory" if same else None


def _data_label(row: dict[str, Any]) -> Any:
    if not row:
        return None
    return {"path": row.get("path"), "sha256": (row.get("sha256") or "")[:12] or None, "records": row.get("records")}


def check_differences(differences: Sequence[Difference], allowed: Sequence[str], run_dir: Path,
                      recorded_overrides: Sequence[str]) -> None:
    """Raise RunDirError (exit 2) for a training-relevant difference --allow-config-change does not name."""
    relevant = [d for d in differences if d.harmless is None]
    refused = [d for d in relevant if not any(_covers(a, d.key) for a in allowed)]
    unused = [a for a in allowed if not any(_covers(a, d.key) for d in relevant)]
    if unused:
        found = ", ".join(d.key for d in relevant) or "none"
        raise RunDirError(f"--allow-config-change {' '.join(unused)}: no such training-relevant difference from the "
                          f"recorded run in {display_path(run_dir)} (differences found: {found}); nothing was "
                          "started. Name only keys that differ.")
    if not refused:
        return
    lines = "\n".join(f"  {d.render()}" for d in refused)
    harmless = [d for d in differences if d.harmless is not None]
    if harmless:
        lines += "\nHarmless differences (allowed): " + "; ".join(f"{d.key} ({d.harmless})" for d in harmless)
    keys = ",".join(d.key for d in refused)
    again = shlex.join(recorded_overrides)
    raise RunDirError(
        f"--resume of {display_path(run_dir)} would continue with a config that differs from the recorded run in "
        f"{len(refused)} setting(s) that change training, so nothing was started:\n{lines}\n"
        f"To continue exactly, resume with the run's own config and overrides"
        f"{f' ({again})' if again else ''}. To continue with the change on purpose, add "
        f"--allow-config-change {keys} (recorded in run_manifest.json). Harmless keys are listed in "
        "docs/provenance.md.")


def checkpoint_progress(checkpoint: Path) -> tuple[int, int] | None:
    """`(global_step, max_steps)` from a checkpoint's trainer_state.json (None if unreadable)."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        return int(state["global_step"]), int(state["max_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finished_at(manifest: dict[str, Any] | None, checkpoint: Path) -> str | None:
    """Why the run is finished (a sentence), or None when there is training left."""
    status = (manifest or {}).get("status") or {}
    if status.get("state") == "completed":
        return f"its manifest says it completed at step {status.get('global_step')}"
    progress = checkpoint_progress(checkpoint)
    if progress is not None and progress[1] > 0 and progress[0] >= progress[1]:
        return f"{checkpoint.name} is at step {progress[0]} of max_steps {progress[1]}"
    return None


class NothingToResume(Exception):
    """`--resume` of a finished run: nothing trains, the launcher exits 0 with this message."""
