"""benchmarks/bench_eval.py stays runnable: a --quick run end to end (slow: loads the tiny model, ~1-3 min)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_eval_benchmark_quick_end_to_end(tmp_path, synthetic_data_dir, tiny_model_dir):
    results = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks/bench_eval.py"), "--quick", "--results",
                           str(results)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "greedy completions identical: yes" in lines[-2]
    assert lines[-1].startswith("images/s ratio ours/ms-swift:")
    assert "- machine: " in results.read_text()
