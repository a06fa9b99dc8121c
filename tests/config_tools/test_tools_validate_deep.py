"""`validate --deep` in CI: every runnable preset under configs/ builds its ms-swift arguments (argument
classes, tuner check, optimizer and scheduler, as a launch would), and a preset ms-swift would
reject fails here although plain `validate` passes it. One subprocess (~20 s on 2 cores: ms-swift import)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from config_tools_helpers import TOOL

from src.config.loader import is_fusion_config, is_runnable_preset
from src.config.paths import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory):
    bad = tmp_path_factory.mktemp("deep") / "bad_scheduler.yaml"
    bad.write_text(f"extends: {REPO_ROOT}/configs/smoke/sft_dense_tiny.yaml\n"
                   "training:\n  lr_scheduler_type: cosine_with_min_lr\n", encoding="utf-8")
    plain = subprocess.run([sys.executable, str(TOOL), "validate", str(bad)], cwd=REPO_ROOT, capture_output=True,
                           text=True, check=False, timeout=120)
    deep = subprocess.run([sys.executable, str(TOOL), "validate", "--deep", "configs", str(bad)], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False, timeout=600)
    return bad, plain, deep


def _status_lines(stdout: str) -> dict[str, str]:
    return {line.split()[1]: line for line in stdout.splitlines() if line.split()[:1] in (["ok"], ["INVALID"])}


def test_every_runnable_preset_builds_its_ms_swift_arguments(deep_run):
    _, _, deep = deep_run
    lines = _status_lines(deep.stdout)
    presets = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "configs").rglob("*.yaml")
                     if not is_fusion_config(p) and is_runnable_preset(p))
    assert len(presets) >= 10
    for preset in presets:
        assert lines[preset].startswith("ok ") and "ms-swift arguments built" in lines[preset], (
            lines.get(preset), deep.stdout[-4000:])
    assert "Traceback" not in deep.stdout + deep.stderr


def test_a_preset_ms_swift_rejects_fails_only_with_deep(deep_run):
    bad, plain, deep = deep_run
    assert plain.returncode == 0, plain.stdout
    assert deep.returncode == 1
    lines = _status_lines(deep.stdout)
    assert lines[str(bad)].startswith("INVALID") and "rejected by ms-swift (--deep)" in lines[str(bad)]
    assert "training.lr_scheduler_kwargs" in deep.stdout and "min_lr" in deep.stdout
