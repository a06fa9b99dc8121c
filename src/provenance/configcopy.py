"""Copies of every config file a run resolved from, inside the run directory.

`RUN_DIR/config/` mirrors the repository: `configs/smoke/x.yaml` is copied to
`RUN_DIR/config/configs/smoke/x.yaml`, so relative `extends` between the copies resolve exactly as
they did in the repository. A file outside the repository is copied to
`RUN_DIR/config/_external/<its absolute path>`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from src.config import REPO_ROOT, resolve_repo_path

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
