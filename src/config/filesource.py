"""Where config files are read from: the files themselves, or a run directory's copies of them.

A run directory keeps a copy of every config file its run resolved from (src/provenance/configcopy.py).
Re-resolving the run (reproduce, eval) must read those copies, wherever the original files lived and
however their `extends` named each other (relative or absolute paths, inside or outside the
repository). Inside `read_from_copies({original path: copy path})` every config file is resolved
exactly as at launch, by its original path, but its text comes from the copy; a file with no copy
is an error (it is never read from its original location, which may have changed since).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path

from .errors import ConfigError, Problem
from .paths import display_path

_COPIES: ContextVar[Mapping[Path, Path] | None] = ContextVar("config_copies", default=None)


def _key(path: Path) -> Path:
    return Path(os.path.normpath(Path(path).expanduser().absolute()))


@contextlib.contextmanager
def read_from_copies(copies: Mapping[Path, Path]) -> Iterator[None]:
    """Within the block, config file `original` is read from `copies[original]`."""
    token = _COPIES.set({_key(k): Path(v) for k, v in copies.items()})
    try:
        yield
    finally:
        _COPIES.reset(token)


def config_file_exists(path: Path) -> bool:
    copies = _COPIES.get()
    return path.is_file() if copies is None else _key(path) in copies


def file_to_read(path: Path) -> Path:
    """The file holding the text of config file `path`."""
    copies = _COPIES.get()
    if copies is None:
        return path
    copy = copies.get(_key(path))
    if copy is None:
        raise ConfigError([Problem(
            "this config file is not among the run directory's copies (run_manifest.json config.files lists "
            "the files the run resolved from); the original is not read, since it may have changed since",
            where=display_path(path),
        )])
    if not copy.is_file():
        raise ConfigError([Problem(f"the run directory's copy of this config file ({copy}) is missing",
                                   where=display_path(path))])
    return copy
