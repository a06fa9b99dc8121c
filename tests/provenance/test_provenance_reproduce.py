"""(d) `python -m src.provenance.reproduce RUN_DIR` re-resolves from the run directory's copies."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from src.provenance.reproduce import reproduce

pytestmark = pytest.mark.slow


@pytest.fixture
def run_copy(reference_run, tmp_path) -> Path:
    """The reference run's manifest and config copies only (the shared run stays untouched)."""
    dest = tmp_path / "run"
    dest.mkdir()
    shutil.copy2(reference_run.out / "run_manifest.json", dest)
    shutil.copytree(reference_run.out / "config", dest / "config")
    return dest


def _cli(run_dir: Path, repo_root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "src.provenance.reproduce", str(run_dir)], cwd=repo_root,
                          capture_output=True, text=True, timeout=120, check=False)


def _edit(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text()
    edited = re.sub(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert edited != text
    path.write_text(edited)


def test_an_untouched_run_reports_no_differences(reference_run, repo_root):
    proc = _cli(reference_run.out, repo_root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "no differences"
    assert "edited after the run started" not in proc.stdout


def test_an_edited_chain_file_is_named_by_key(run_copy, repo_root):
    _edit(run_copy / "config/configs/smoke/sft_dense_tiny.yaml", r"^(  learning_rate:) .*$", r"\1 2.0e-3")
    proc = _cli(run_copy, repo_root)
    assert proc.returncode == 1
    assert "training.learning_rate: 0.001 -> 0.002" in proc.stdout
    assert "1 difference(s)" in proc.stdout
    assert "config/configs/smoke/sft_dense_tiny.yaml was edited after the run started" in proc.stdout


def test_parents_and_fusion_copies_count_too(run_copy):
    _edit(run_copy / "config/configs/base.yaml", r"^(  seed:) 42$", r"\1 7")
    _edit(run_copy / "config/tests/provenance/data/fusion_short_epoch.yaml", r"ratio: 0.0625", "ratio: 0.125")
    report = reproduce(run_copy)
    assert report.differences == ["training.seed: 42 -> 7", "fusion.targets[synthetic_dense].ratio: 0.0625 -> 0.125"]


def test_a_directory_without_manifest_is_a_usage_error(tmp_path, repo_root):
    proc = _cli(tmp_path, repo_root)
    assert proc.returncode == 2 and "no run_manifest.json" in proc.stderr and "Traceback" not in proc.stderr


def test_an_unpinned_template_gets_the_pin_to_add(run_copy):
    import json

    manifest = json.loads((run_copy / "run_manifest.json").read_text())
    assert reproduce(run_copy).notes == []  # the smoke preset pins the recorded fingerprint already
    sha = manifest["template_fingerprint"]["sha256"]
    manifest["template_fingerprint"]["pinned"] = None
    (run_copy / "run_manifest.json").write_text(json.dumps(manifest))
    assert f"template: to stop a re-run whose chat template / tokenizer renders differently, add " \
           f"custom.template_fingerprint={sha}" in reproduce(run_copy).notes
