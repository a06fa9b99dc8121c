"""The script as a user runs it: exit codes, no tracebacks, determinism, and a light import path."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from config_tools_helpers import TOOL, run_script

from src.config.paths import REPO_ROOT

PARITY_DIFF = ("diff", "--left", "configs/train/grpo/dense_2048.yaml",
               "--right", "configs/train/grpo/dense_2048_lowaug.yaml", "--profile", "parity")


def test_inspect_runs_as_a_script():
    proc = run_script("inspect", "--config", "configs/train/sft/dense_1024.yaml", "--payload-only")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["global_max_length"] == 12000


def test_diff_is_byte_identical_across_runs_and_working_directories(tmp_path):
    first, second = run_script(*PARITY_DIFF), run_script(*PARITY_DIFF)
    elsewhere = run_script(*PARITY_DIFF, cwd=tmp_path)  # repo-relative paths fall back to the repo root
    absolute = run_script("diff", "--left", REPO_ROOT / "configs/train/grpo/dense_2048.yaml",
                          "--right", REPO_ROOT / "configs/train/grpo/dense_2048_lowaug.yaml",
                          "--profile", "parity", cwd=tmp_path)
    assert first.returncode == 1 and first.stdout
    for other in (second, elsewhere, absolute):
        assert other.returncode == first.returncode
        assert other.stdout == first.stdout
    assert str(REPO_ROOT) not in first.stdout and str(tmp_path) not in first.stdout
    for fmt_run in (run_script(*PARITY_DIFF, "--format", "json"), run_script(*PARITY_DIFF, "--format", "json")):
        assert fmt_run.stdout == run_script(*PARITY_DIFF, "--format", "json", cwd=tmp_path).stdout


@pytest.mark.parametrize("command", [
    ("inspect", "--config", "configs/train/sft/no_such_preset.yaml"),
    ("diff", "--left", "configs/train/sft/dense_1024.yaml", "--right", "configs/train/sft/no_such.yaml"),
    ("validate", "configs/train/sft/no_such.yaml"),
])
def test_missing_file_exits_2_without_traceback(command):
    proc = run_script(*command)
    assert proc.returncode == 2
    assert "not found" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_syntax_error_and_cycle_exit_2(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("training: {learning_rate: 1\n", encoding="utf-8")
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n", encoding="utf-8")
    syntax = run_script("inspect", "--config", broken)
    cycle = run_script("diff", "--left", tmp_path / "a.yaml", "--right", "configs/train/sft/dense_1024.yaml")
    assert (syntax.returncode, cycle.returncode) == (2, 2)
    assert "invalid YAML" in syntax.stderr and f"{broken.as_posix()}:" in syntax.stderr
    assert "extends cycle" in cycle.stderr
    assert "Traceback" not in syntax.stderr + cycle.stderr


@pytest.mark.parametrize("command", [(), ("inspect",), ("diff", "--left", "a.yaml"), ("frobnicate",),
                                     ("diff", "--left", "a", "--right", "b", "--profile", "strict")])
def test_usage_errors_exit_2(command):
    proc = run_script(*command)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "Traceback" not in proc.stderr


HEAVY = ("torch", "transformers", "swift", "trl", "peft", "vllm", "deepspeed", "rich")

CHECK = f"""
import contextlib, io, json, runpy, sys
sys.argv = ["inspect_config.py", "inspect", "--config", "configs/train/grpo/dense_2048.yaml", "--explain"]
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    try:
        runpy.run_path({str(TOOL)!r}, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"code": code, "heavy": heavy, "out": len(buf.getvalue())}}))
"""


def test_inspect_imports_no_training_stack_and_no_rich_when_piped():
    proc = subprocess.run([sys.executable, "-c", CHECK], check=False, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and result["out"] > 0
    assert result["heavy"] == []


def test_inspect_import_time_has_no_heavy_module():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(TOOL), "inspect", "--config", "configs/train/sft/dense_1024.yaml"],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "src" in imported and not imported & {"torch", "transformers", "swift"}
