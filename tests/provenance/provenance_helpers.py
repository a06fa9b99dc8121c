"""Helpers of the provenance tests: the smoke run's command line, environment, and fingerprints.

The runs use the smoke preset with a 4-record fusion selection (tests/provenance/data): 6 optimizer
steps at batch 2, a checkpoint every 3 steps, epoch boundaries at steps 2 and 4.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SMOKE_CONFIG = "configs/smoke/sft_dense_tiny.yaml"
FUSION = "tests/provenance/data/fusion_short_epoch.yaml"
MAX_STEPS, SAVE_STEPS, BATCH = 6, 3, 2
# Allowlisted variables the manifest must record, and secrets it must never record.
RUN_ENV = {"PYTHONHASHSEED": "0", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
SECRETS = {"HF_TOKEN": "hf_secret_value_123", "WANDB_API_KEY": "wandb_secret_value_456"}


def overrides(out: Path) -> list[str]:
    return [
        f"training.output_dir={out}", f"training.logging_dir={out}/tb", f"training.max_steps={MAX_STEPS}",
        f"training.save_steps={SAVE_STEPS}", f"custom.fusion_config={FUSION}",
    ]


def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "src.sft", "--config", SMOKE_CONFIG, *overrides(out), *extra]


def run_env() -> dict[str, str]:
    return {**os.environ, **RUN_ENV, **SECRETS}


def git(repo_root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo_root), *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def git_dirty(repo_root: Path) -> bool:
    return any(not line.startswith("??") for line in git(repo_root, "status", "--porcelain").splitlines())


def tree_fingerprint(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (files) or link target (symlinks), for every entry under `root`."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


@dataclass(frozen=True)
class Run:
    out: Path
    proc: subprocess.CompletedProcess
    seconds: float
    head_before: str
    head_after: str
    dirty_before: bool
    dirty_after: bool


# ------------------------------------------------------------------ kill / resume (every mode)


def recorded_checkpoints(out: Path) -> list[str]:
    """Checkpoint names the run manifest records (empty while it is missing or being rewritten)."""
    try:
        return [c["name"] for c in json.loads((out / "run_manifest.json").read_text())["checkpoints"]]
    except (OSError, ValueError, KeyError):
        return []


def run_until_checkpoint(cmd: list[str], out: Path, checkpoint: str, repo_root: Path, *,
                         sig: int = signal.SIGKILL, timeout: float = 900) -> tuple[int, dict]:
    """Start `cmd`, send `sig` once the manifest records `checkpoint`; (exit code, manifest then)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with (out.parent / f"{out.name}.log").open("w") as log:
        proc = subprocess.Popen(cmd, cwd=repo_root, env=run_env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while checkpoint not in recorded_checkpoints(out):
            assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before it could be stopped"
            assert time.monotonic() < deadline, f"no {checkpoint} within {timeout} s"
            time.sleep(0.05)
        proc.send_signal(sig)
        rc = proc.wait(timeout=120)
    return rc, json.loads((out / "run_manifest.json").read_text())


def step_history(out: Path, max_steps: int) -> dict[int, dict]:
    """The final checkpoint's trainer_state log rows with a loss, by step."""
    state = json.loads((out / f"checkpoint-{max_steps}" / "trainer_state.json").read_text())
    return {row["step"]: row for row in state["log_history"] if "loss" in row}


def logged_rows(out: Path) -> dict[int, dict]:
    """logging.jsonl training rows by step (the last line for a step wins: a resumed run appends)."""
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    return {int(r["global_step/max_steps"].split("/")[0]): r for r in rows
            if "loss" in r and "global_step/max_steps" in r}


def mode_command(config: str, out: Path, max_steps: int, save_steps: int, *extra: str) -> list[str]:
    """A smoke preset of any mode, shortened to `max_steps` on the 4-record fusion selection. The dense
    split's targets (3-5 objects) are longer than the GRPO and stage2_ab smokes' completion budgets, so
    the plan would stop those runs (`custom.overlong: error`); they keep the objects that fit instead."""
    return [sys.executable, "-m", "src.sft", "--config", config, f"training.output_dir={out}",
            f"training.logging_dir={out}/tb", f"training.max_steps={max_steps}", f"training.save_steps={save_steps}",
            f"custom.fusion_config={FUSION}", "custom.overlong=fit_objects", *extra]
