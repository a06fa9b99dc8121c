"""`inspect_config.py plan`: the plan through the torch-free config tools (a child process), same output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from src.config.paths import REPO_ROOT

TOOL = [sys.executable, str(REPO_ROOT / "scripts/config_tools/inspect_config.py")]


def test_plan_subcommand_passes_overrides_output_and_exit_code(tmp_path, easy_rl_data_dir, warm_model_dir):
    env = {**os.environ, "VLM_PREFLIGHT_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([*TOOL, "plan", "--config", "configs/smoke/grpo_dense_tiny.yaml", "--json",
                           "rlhf.max_completion_length=50"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]  # records over the budget
    plan = json.loads(proc.stdout)
    assert plan["mode"] == "grpo" and plan["over"] == 7 and plan["records"] == 24
    assert plan["worst"][0]["over"] and plan["worst"][0]["objects_that_fit"] == 1
    assert plan["limits"]["completion"].startswith("the completion budget (rlhf.max_completion_length 50")


def test_plan_subcommand_missing_config_is_a_usage_error(tmp_path):
    proc = subprocess.run([*TOOL, "plan", "--config", "nope.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2 and "no such config file: nope.yaml" in proc.stderr and "Traceback" not in proc.stderr
