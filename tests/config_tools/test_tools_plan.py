"""`python -m src.datasets.plan` and `inspect_config.py plan` (which runs it as a child process: the config
tools stay torch-free)."""

from __future__ import annotations

import json
import subprocess
import sys

from src.config.paths import REPO_ROOT

TOOL = [sys.executable, str(REPO_ROOT / "scripts/config_tools/inspect_config.py")]


def test_plan_cli_json_overrides_and_exit_code(tmp_path, monkeypatch, capsys, easy_rl_data_dir, warm_model_dir):
    from src.datasets.plan import main

    monkeypatch.setenv("VLM_PREFLIGHT_CACHE", str(tmp_path / "cache"))
    code = main(["--config", "configs/smoke/grpo_dense_tiny.yaml", "--json", "rlhf.max_completion_length=50"])
    assert code == 1  # records over the budget
    plan = json.loads(capsys.readouterr().out)
    assert plan["mode"] == "grpo" and plan["over"] == 7 and plan["records"] == 24
    assert plan["worst"][0]["over"] and plan["worst"][0]["objects_that_fit"] == 1
    assert plan["limits"]["completion"].startswith("the completion budget (rlhf.max_completion_length 50")
    assert plan["completion_budget_needed"] == {"p99": 72, "max": 72}
    assert main(["--config", "configs/smoke/grpo_dense_tiny.yaml"]) == 0  # cached now; every record fits
    assert "token plan (grpo, custom.overlong: error): 24 records" in capsys.readouterr().out


def test_plan_subcommand_runs_the_plan_module_with_the_same_arguments(monkeypatch, tmp_path):
    from src.config.tools import plan_command
    from src.config.tools.cli import main

    calls = []
    monkeypatch.setattr(plan_command.subprocess, "call", lambda cmd, cwd: calls.append((cmd, cwd)) or 1)
    monkeypatch.chdir(tmp_path)  # the preset is found relative to the repository root too
    assert main(["plan", "--config", "configs/smoke/sft_dense_tiny.yaml", "--json", "global_max_length=230"]) == 1
    (cmd, cwd), = calls
    assert cmd == [sys.executable, "-m", "src.datasets.plan", "--config",
                   str(REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml"), "--worst", "10", "--json",
                   "global_max_length=230"] and cwd == REPO_ROOT


def test_plan_subcommand_missing_config_is_a_usage_error(tmp_path):
    proc = subprocess.run([*TOOL, "plan", "--config", "nope.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2 and "no such config file: nope.yaml" in proc.stderr and "Traceback" not in proc.stderr
