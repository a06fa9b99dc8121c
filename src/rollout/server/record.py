"""The launch record: what the launcher started (`rollout_server.json` in the run directory, or
`$ROLLOUT_SERVER_INFO`), written once the server is healthy and before the learners start; read by
the learner's client (the world size it must find) and by the run manifest
(`src/provenance/rollout.py`, which owns the record's name and location).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src.provenance.atomic import atomic_write_json
from src.provenance.rollout import ROLLOUT_SERVER_ENV


def write_record(out_path: str, record: dict[str, Any], pid: int | None) -> Path:
    record = dict(record, pid=pid, started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return atomic_write_json(out_path, record)


def recorded_world_size(servers: Sequence[tuple[str, int]]) -> int | None:
    """The world size scripts/train_stage2.sh recorded for one of `servers` ($ROLLOUT_SERVER_INFO)."""
    path = os.environ.get(ROLLOUT_SERVER_ENV)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        started = (str(record["host"]), int(record["port"]))
        size = int(record["world_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return size if started in [(str(h), int(p)) for h, p in servers] else None
