"""A small on-disk cache for pre-flight results (the token-budget plan, the record and image scans).

A result is stored under a fingerprint of what it depends on: the JSONL files (path, size and
modification time: re-reading millions of records to hash them would cost what the cache saves)
plus the settings that change the result (a JSON-able mapping chosen by the caller). A changed
record file, or any changed setting, gives another fingerprint and so a fresh computation.

The cache lives in `$VLM_PREFLIGHT_CACHE` when set, else `~/.cache/vlm-launcher/preflight`; an entry
is one JSON file written atomically, so concurrent ranks or runs never read half a file. Caching is
an optimisation only: an unreadable or corrupt entry is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CACHE_ENV = "VLM_PREFLIGHT_CACHE"
CACHE_VERSION = 1


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV)
    return Path(root) if root else Path.home() / ".cache" / "vlm-launcher" / "preflight"


def file_signature(path: str | Path) -> list[Any]:
    """`[resolved path, size, mtime_ns]` of a file, or `[path, None, None]` when it does not exist."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError:
        return [str(p), None, None]
    return [str(p), st.st_size, st.st_mtime_ns]


def fingerprint(kind: str, paths: Iterable[str | Path], settings: Mapping[str, Any]) -> str:
    """sha256 over the kind of result, the files' signatures (in order) and the settings."""
    payload = {"version": CACHE_VERSION, "kind": kind,
               "files": [file_signature(p) for p in paths], "settings": settings}
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _entry(kind: str, key: str) -> Path:
    return cache_dir() / kind / f"{key}.json"


def load(kind: str, key: str) -> Any | None:
    """The cached result, or None when absent or unreadable."""
    try:
        return json.loads(_entry(kind, key).read_text())
    except (OSError, ValueError):
        return None


def store(kind: str, key: str, value: Any) -> None:
    """Write the result atomically; a cache that cannot be written is skipped (it is an optimisation)."""
    path = _entry(kind, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)  # a half-written entry is never left behind
