"""Helpers of the provenance tests: the smoke run's command line, environment, and fingerprints.

The runs use the smoke preset with a 4-record fusion selection (tests/provenance/data): 6 optimizer
steps at batch 2, a checkpoint every 3 steps, epoch boundaries at steps 2 and 4.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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
