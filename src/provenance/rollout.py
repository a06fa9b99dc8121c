"""Rollout-server launch flags for the manifest (vLLM server mode): the manifest's side of the launch record.

The rollout server itself (launch, contract, client, weight sync, health) lives in
`src/rollout/server/`; its launcher writes the record through `src/rollout/server/record.py`, which
takes the record's name and location from here (the manifest, layer 3, cannot import a layer-4 package).

Contract with the server launcher (`scripts/train_stage2.sh`, or whoever starts `swift rollout`):
after the server is healthy and before the learners start, the launcher writes a JSON object to
`$ROLLOUT_SERVER_INFO` when that variable is set, else to `<training.output_dir>/rollout_server.json`.
Suggested fields: `command` (argv list of the server), `model`, `host`, `port`, `dtype`,
`data_parallel_size`, `tensor_parallel_size`, `max_model_len`, `enforce_eager`,
`gpu_memory_utilization`, `cuda_visible_devices`, `started_at`; any other field is kept as is.
The manifest's `rollout_server` is null when server mode is off, `{"source": path, "flags": {...}}`
when the file was found, and `{"source": path, "flags": null, "error": ...}` when it was not.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from src.config import TrainingConfig
from src.config.server_mode import uses_rollout_server

ROLLOUT_SERVER_ENV = "ROLLOUT_SERVER_INFO"
ROLLOUT_SERVER_FILE = "rollout_server.json"

logger = logging.getLogger(__name__)


def rollout_server_path(run_dir: Path) -> Path:
    env = os.environ.get(ROLLOUT_SERVER_ENV)
    return Path(env) if env else run_dir / ROLLOUT_SERVER_FILE


def rollout_server_record(cfg: TrainingConfig, run_dir: Path) -> dict[str, Any] | None:
    if not uses_rollout_server(cfg):
        return None
    path = rollout_server_path(run_dir)
    try:
        flags = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        error = (f"server mode is on but the server launcher wrote no launch record at {path} "
                 f"(set {ROLLOUT_SERVER_ENV} or write {ROLLOUT_SERVER_FILE} into the run directory)")
    except (OSError, json.JSONDecodeError) as exc:
        error = f"cannot read the rollout-server launch record {path}: {exc}"
    else:
        if isinstance(flags, dict):
            return {"source": str(path), "flags": flags}
        error = f"the rollout-server launch record {path} is not a JSON object"
    logger.warning("%s", error)
    return {"source": str(path), "flags": None, "error": error}
