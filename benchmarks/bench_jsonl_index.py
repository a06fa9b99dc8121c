#!/usr/bin/env python
"""Benchmark: build a JsonlIndex over a generated 1M-record JSONL; records/s and peak RSS.

    python benchmarks/bench_jsonl_index.py [--records 1000000] [--baseline-records 100000]

Generates realistic records (~300 bytes: 1-5 objects with boxes / polygons / lines, a summary)
in a temporary directory, then measures in fresh child processes (so peak RSS is the
measured work's own):

* index: ``JsonlIndex(path)`` (binary chunk scan, one int64 offset per record), plus 10k
  random ``index[i]`` reads;
* baseline: ``[json.loads(line) for line in f]`` over the first ``--baseline-records`` records
  (extrapolated linearly to the full file when smaller).

Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the child; "resident delta" is the
child's current RSS (/proc/self/statm) after the work minus before it. The figures are printed last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
PEAK_RSS_TARGET_MB = 300  # a 1M-record index under 300 MB peak RSS

SHAPES = ("rectangle", "triangle", "quadrilateral", "line")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")

CHILD_INDEX = r"""
import gc, json, resource, sys, time
import numpy as np
from src.datasets.jsonl_index import JsonlIndex
def rss_now_kb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gc.collect()
rss0 = rss_now_kb()
t0 = time.perf_counter()
index = JsonlIndex(sys.argv[1])
t_build = time.perf_counter() - t0
rss_build = rss_now_kb()
peak_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rng = np.random.default_rng(0)
picks = rng.integers(0, len(index), size=10_000).tolist()
t0 = time.perf_counter()
for i in picks:
    index[i]
t_access = time.perf_counter() - t0
print(json.dumps({"n": len(index), "seconds": t_build, "rss0_kb": rss0, "rss_kb": rss_build,
                  "peak_kb": peak_build,
                  "access_per_s": len(picks) / t_access,
                  "rss_after_access_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

CHILD_BASELINE = r"""
import gc, json, resource, sys, time
def rss_now_kb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gc.collect()
rss0 = rss_now_kb()
t0 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    records = [json.loads(line) for line in f]
seconds = time.perf_counter() - t0
print(json.dumps({"n": len(records), "seconds": seconds, "rss0_kb": rss0, "rss_kb": rss_now_kb(),
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _batch(start: int, n: int, rng: np.random.Generator) -> str:
    """``n`` JSONL lines (vectorised draws, then string formatting)."""
    ws = rng.choice([640, 800, 1024, 1280], size=n)
    hs = rng.choice([480, 600, 768, 960], size=n)
    n_obj = rng.integers(1, 6, size=n)
    shapes = rng.integers(0, len(SHAPES), size=(n, 5))
    colours = rng.integers(0, len(COLOURS), size=(n, 5))
    u = rng.random(size=(n, 5, 8))
    lines = []
    for r in range(n):
        w, h = int(ws[r]), int(hs[r])
        objects = []
        for k in range(int(n_obj[r])):
            shape = SHAPES[shapes[r, k]]
            desc = f"{COLOURS[colours[r, k]]} {shape}"
            v = u[r, k]
            if shape == "rectangle":
                x1, y1 = int(v[0] * w / 2), int(v[1] * h / 2)
                geom = f'"bbox_2d": [{x1}, {y1}, {x1 + 1 + int(v[2] * w / 2)}, {y1 + 1 + int(v[3] * h / 2)}]'
            else:
                npts = {"triangle": 3, "quadrilateral": 4, "line": 2}[shape]
                pts = ", ".join(f"{int(v[2 * j] * w)}, {int(v[2 * j + 1] * h)}" for j in range(npts))
                geom = f'"{"line" if shape == "line" else "poly"}": [{pts}]'
            objects.append(f'{{"desc": "{desc}", {geom}}}')
        lines.append(f'{{"images": ["images/{start + r:07d}.png"], "width": {w}, "height": {h}, '
                     f'"objects": [{", ".join(objects)}], "summary": "{len(objects)} objects"}}\n')
    return "".join(lines)


def generate(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as f:
        for start in range(0, n, 10_000):
            f.write(_batch(start, min(10_000, n - start), rng))


def _child(code: str, path: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         cwd=REPO_ROOT, check=False)
    if res.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--baseline-records", type=int, default=100_000)
    ap.add_argument("--tmpdir", default=None, help="where to write the generated JSONL (default: system temp)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        full, subset = Path(tmp) / "bench.jsonl", Path(tmp) / "subset.jsonl"
        t0 = time.perf_counter()
        generate(full, args.records)
        gen_s = time.perf_counter() - t0
        n_base = min(args.baseline_records, args.records)
        with full.open("rb") as src, subset.open("wb") as dst:
            for _ in range(n_base):
                dst.write(src.readline())
        size = full.stat().st_size
        print(f"generated {args.records:,} records, {size / 1e6:.1f} MB "
              f"({size / args.records:.0f} B/record) in {gen_s:.1f}s", flush=True)

        idx = _child(CHILD_INDEX, full)
        base = _child(CHILD_BASELINE, subset if n_base < args.records else full)

    scale = args.records / base["n"]
    base_s = base["seconds"] * scale
    base_delta_mb = (base["rss_kb"] - base["rss0_kb"]) / 1024 * scale
    idx_delta_mb = (idx["rss_kb"] - idx["rss0_kb"]) / 1024
    extrapolated = f" (extrapolated from {base['n']:,} records)" if scale != 1 else ""
    print()
    print(f"records:                  {idx['n']:,} ({size / 1e6:.1f} MB)")
    print(f"index build:              {idx['seconds']:.2f} s = {idx['n'] / idx['seconds']:,.0f} records/s")
    print(f"index peak RSS:           {idx['peak_kb'] / 1024:.1f} MB (whole process while building)")
    print(f"index resident delta:     {idx_delta_mb:.1f} MB held after build "
          f"(offsets array {idx['n'] * 8 / 2**20:.1f} MB)")
    print(f"index random access:      {idx['access_per_s']:,.0f} records/s (index[i], parsed + validated)")
    print(f"baseline json.loads all:  {base_s:.2f} s = {args.records / base_s:,.0f} records/s{extrapolated}")
    print(f"baseline resident delta:  {base_delta_mb:.1f} MB held by the parsed dicts{extrapolated}")
    print(f"baseline peak RSS:        {base['peak_kb'] / 1024:.1f} MB measured on {base['n']:,} records")
    print(f"ratio (baseline / index): time {base_s / idx['seconds']:.1f}x, "
          f"memory delta {base_delta_mb / max(idx_delta_mb, 0.1):.1f}x")
    C.print_summary([C.Figure(f"index peak RSS, {idx['n']:,} records", round(idx["peak_kb"] / 1024, 1), PEAK_RSS_TARGET_MB,
                              unit="MB"),
                     C.Figure("index build", round(idx["n"] / idx["seconds"]), unit="records/s")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
