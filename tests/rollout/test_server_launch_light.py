"""The launch side of the rollout server (what scripts/train_stage2.sh runs before anything starts) never
imports torch, transformers or ms-swift, for stage2_ab and GRPO presets alike."""

from __future__ import annotations

import json
import subprocess
import sys

from src.config.paths import REPO_ROOT

HEAVY = ("torch", "transformers", "swift", "trl", "peft", "vllm", "deepspeed")

CODE = f"""
import json, sys
from src.config import load_training_config
from src.rollout.server import health, launch, plan, record, settings, transport  # noqa: F401
kinds = [settings.server_settings(load_training_config(p)).kind
         for p in ("configs/train/grpo/summary_server.yaml", "configs/train/stage2_ab/ab_mixed.yaml")]
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"heavy": heavy, "kinds": kinds}}))
"""


def test_launch_side_imports_no_heavy_module():
    out = subprocess.run([sys.executable, "-c", CODE], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"heavy": [], "kinds": ["rlhf", "rollout_matching"]}
