"""The run manifest (`RUN_DIR/run_manifest.json`): what a run used, written before its first step.

Schema (version 1; see docs/provenance.md for every field):
- `schema_version`, `created_at` (UTC ISO), `created_at_step` (0: written before the first step),
  `run` (name, mode, output_dir, seed)
- `command`: `argv`, `orig_argv`, `cwd`, `executable`, `overrides` (the `key=value` texts), `flags`
- `config`: `entry`, `chain` (low -> high), `resolved`, `origins` (every leaf -> file:line |
  override:... | proxy:..., with what it overrode), `fusion` (`entry`, `chain`, `resolved`),
  `files` (every chain file: path, role, copy under `config/`, size, sha256)
- `versions` (python + packages, null when not installed), `ms_swift_source`, `project_git`
- `environment` (allowlisted variables), `hardware`
- `datasets`: `files` (path, size, sha256, records per JSONL), `expected_counts`, `epoch_length`,
  `overlong` (`custom.overlong` and, per entry and split, the records over the token budget, dropped or cut,
  and the objects dropped), `seed`, `sampling`
- `rollout_server`: null unless vLLM server mode (see rollout.py)
- mutable part, updated atomically at each save and at the end: `checkpoints`, `realized_counts`,
  `resumes`, `status`
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from src.config import REPO_ROOT, FusionConfig, TrainingConfig

from .atomic import atomic_write_json, read_json, to_json_text
from .datafiles import dataset_files
from .probes import environment, git_state, hardware, package_versions, swift_source
from .rollout import rollout_server_record
from .rundir import MANIFEST_NAME

SCHEMA_VERSION = 1
SAMPLING = ("per epoch each target yields round(len x ratio) records and each source round(ratio x total "
            "target quota); the schedule is a pure function of (seed, epoch)")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def as_json(data: Any) -> Any:
    """`data` as the manifest stores it (a JSON round trip), so comparisons with a loaded manifest are exact."""
    return json.loads(to_json_text(data))


def config_record(cfg: TrainingConfig, fusion: FusionConfig | None) -> dict[str, Any]:
    return {
        "entry": cfg.source.display,
        "chain": list(cfg.chain),
        "resolved": as_json(cfg.resolved),
        "origins": cfg.source.explain(),
        "fusion": None if fusion is None else {
            "entry": cfg.custom.fusion_config,
            "chain": list(fusion.chain),
            "resolved": as_json(fusion.to_dict()),
        },
        "files": [],
    }


def command_record(argv: list[str], overrides: list[str], flags: dict[str, Any]) -> dict[str, Any]:
    return {
        "argv": list(argv),
        "orig_argv": list(getattr(sys, "orig_argv", argv)),
        "cwd": os.getcwd(),
        "executable": sys.executable,
        "overrides": list(overrides),
        "flags": dict(flags),
    }


def datasets_record(cfg: TrainingConfig, fusion: FusionConfig | None) -> dict[str, Any]:
    return {
        "fusion_config": cfg.custom.fusion_config,
        "files": dataset_files(fusion) if fusion is not None else [],
        "expected_counts": None,
        "epoch_length": None,
        "overlong": None,
        "seed": int(cfg.training.get("seed", 0)),
        "sampling": SAMPLING,
    }


def build_manifest(cfg: TrainingConfig, fusion: FusionConfig | None, run_dir: Path,
                   command: dict[str, Any]) -> dict[str, Any]:
    """Everything known before training; datasets' expected counts are filled by the caller."""
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": now_iso(),
        "created_at_step": None,  # global step when written: 0, before the first optimizer step
        "run": {
            "run_name": cfg.training.get("run_name"),
            "mode": cfg.mode,
            "output_dir": str(run_dir),
            "seed": int(cfg.training.get("seed", 0)),
        },
        "command": command,
        "config": config_record(cfg, fusion),
        "versions": package_versions(),
        "ms_swift_source": swift_source(),
        "project_git": git_state(REPO_ROOT),
        "environment": environment(),
        "hardware": hardware(),
        "datasets": datasets_record(cfg, fusion),
        "rollout_server": rollout_server_record(cfg, run_dir),
        "checkpoints": [],
        "realized_counts": None,
        "resumes": [],
        "status": {"state": "running", "updated_at": now_iso(), "global_step": 0,
                   "error_type": None, "error": None, "signal": None},
    }


def manifest_path(run_dir: Path) -> Path:
    return run_dir / MANIFEST_NAME


def load_manifest(run_dir: Path) -> dict[str, Any] | None:
    path = manifest_path(run_dir)
    return read_json(path) if path.is_file() else None


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> Path:
    return atomic_write_json(manifest_path(run_dir), manifest)
