"""Copies of every config file a run resolved from, inside the run directory.

`RUN_DIR/config/` mirrors the repository: `configs/smoke/x.yaml` is copied to
`RUN_DIR/config/configs/smoke/x.yaml`; a file outside the repository is copied to
`RUN_DIR/config/_external/<its absolute path>`. The manifest lists each file with its copy
(`config.files`), and a run is re-resolved through that list (`resolve_run_config`): every file
keeps its original path, so relative and absolute `extends` (and `custom.fusion_config`) find the
copies wherever the preset lived, from any working directory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from src.config import (
    REPO_ROOT,
    ResolvedConfig,
    TrainingConfig,
    load_training_config,
    resolve_config,
    resolve_repo_path,
)
from src.config.filesource import read_from_copies

from .atomic import atomic_write_bytes

CONFIG_DIR = "config"
EXTERNAL_DIR = "_external"


def copy_relpath(display: str) -> str:
    """Where the copy of a chain file (given as the chain writes it) lives under `config/`."""
    path = PurePosixPath(display)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return Path(display).resolve(strict=False).relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return (PurePosixPath(EXTERNAL_DIR) / path.relative_to("/")).as_posix()


def original_display(relpath: str) -> str:
    """Inverse of `copy_relpath`: the chain entry a copy stands for."""
    path = PurePosixPath(relpath)
    if path.parts and path.parts[0] == EXTERNAL_DIR:
        return "/" + PurePosixPath(*path.parts[1:]).as_posix()
    return path.as_posix()


def copy_chain(run_dir: Path, chains: Iterable[tuple[str, Iterable[str]]]) -> list[dict[str, Any]]:
    """Copy each `(role, chain)` file into `run_dir/config/`; one record per distinct file."""
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for role, chain in chains:
        for display in chain:
            if display in seen:
                continue
            seen.add(display)
            data = resolve_repo_path(display).read_bytes()
            rel = copy_relpath(display)
            atomic_write_bytes(run_dir / CONFIG_DIR / rel, data)
            records.append({"path": display, "role": role, "copy": f"{CONFIG_DIR}/{rel}",
                            "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return records


def copies_of(run_dir: Path, manifest: dict[str, Any]) -> dict[Path, Path]:
    """Original path -> copy, for every config file the manifest lists (training and fusion chains)."""
    return {resolve_repo_path(item["path"]): run_dir / item["copy"] for item in manifest["config"].get("files", [])}


def resolve_run_config(run_dir: Path, manifest: dict[str, Any], overrides: Sequence[str]) -> ResolvedConfig:
    """The run's entry config re-resolved from the copies (structure only); raises ConfigError."""
    with read_from_copies(copies_of(run_dir, manifest)):
        return resolve_config(resolve_repo_path(manifest["config"]["entry"]), overrides)


def load_run_config(run_dir: Path, manifest: dict[str, Any], overrides: Sequence[str]) -> TrainingConfig:
    """The run's validated config (its fusion config included) from the copies; raises ConfigError."""
    with read_from_copies(copies_of(run_dir, manifest)):
        return load_training_config(resolve_repo_path(manifest["config"]["entry"]), overrides, runnable=False)
