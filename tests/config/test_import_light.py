"""`import src.config` (and loading a preset, and the seed migration's commands) never imports torch,
transformers or ms-swift."""

from __future__ import annotations

import json
import subprocess
import sys

from src.config.paths import REPO_ROOT

HEAVY = ("torch", "transformers", "swift", "trl", "peft", "vllm", "deepspeed")

CODE = f"""
import json, sys, time
HEAVY = {HEAVY!r}
t = time.perf_counter()
import src.config
from src.config import load_training_config
from src.config.swift_args import build_swift_kwargs
from src.config.tools import validation  # noqa: F401  (the validate command)
from src.config.tools import cli, plan_command  # noqa: F401  (every command; plan runs a child process)
from src.config import server_mode  # noqa: F401
from src.seed_migration import cli as seed_cli  # noqa: F401  (migrate, parity-report: inspect_config.py)
cfg = load_training_config("configs/train/grpo/dense_2048.yaml")
build_swift_kwargs(cfg)
elapsed = time.perf_counter() - t
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set(HEAVY))
print(json.dumps({{"heavy": heavy, "elapsed": elapsed}}))
"""


def test_config_package_imports_no_heavy_module():
    out = subprocess.run(
        [sys.executable, "-c", CODE], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["elapsed"] < 2.0  # typically ~0.3 s; generous for slow CI machines
