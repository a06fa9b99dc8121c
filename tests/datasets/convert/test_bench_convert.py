"""benchmarks/bench_convert.py stays runnable (--quick: 500 annotations, nothing recorded)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "benchmarks"


def test_quick_run_prints_the_rates(capsys):
    sys.path.insert(0, str(BENCH))
    try:
        import bench_convert
    finally:
        sys.path.remove(str(BENCH))
    assert bench_convert.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "500 annotations on 100 images" in out and "records/s" in out
    assert "{'poly': 300, 'bbox_2d': 200}" in out
