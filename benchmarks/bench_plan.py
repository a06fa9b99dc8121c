#!/usr/bin/env python
"""Benchmark: the token-budget plan's records/s on a generated dense set (goal >= 2,000 records/s on 2 cores).

    python benchmarks/bench_plan.py [--records 100000] [--objects 20] [--quick] [--results PATH|none]

Generates ``--records`` dense records with ``--objects`` boxes / polygons each (varied image sizes, so the
per-size image-token cache sees many sizes) in a temporary directory, points the SFT smoke preset
(`configs/smoke/sft_dense_tiny.yaml`, the tiny model's real Qwen tokenizer) at it, builds the plan's template
once, then times in this process:

* cold: `build_plan` with an empty cache (read + validate every record, render its target, tokenize in
  batches, image tokens per distinct size), at N/4 and N records (cost per record should not grow);
* warm: the same plan again (a cache hit: only the cached counts are loaded).

No pixels are read (the images do not exist). Figures printed last; appended to RESULTS.md unless --quick.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

TARGET = 2000.0
SHAPES = ("rectangle", "triangle", "ellipse", "line")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")


def write_records(path: Path, n: int, objects: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(8, 33, size=(n, 2)) * 32  # 256..1056 px sides
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            w, h = int(sizes[i, 0]), int(sizes[i, 1])
            objs = []
            for _ in range(objects):
                x1, y1 = float(rng.uniform(0, w - 20)), float(rng.uniform(0, h - 20))
                x2, y2 = x1 + float(rng.uniform(5, 20)), y1 + float(rng.uniform(5, 20))
                desc = f"{COLOURS[int(rng.integers(6))]} {SHAPES[int(rng.integers(4))]}"
                if rng.random() < 0.7:
                    objs.append({"desc": desc, "bbox_2d": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)]})
                else:
                    objs.append({"desc": desc, "poly": [round(x1, 1), round(y1, 1), round(x2, 1), round(y1, 1),
                                                        round(x2, 1), round(y2, 1)]})
            f.write(json.dumps({"images": [f"images/{i:06d}.jpg"], "width": w, "height": h, "objects": objs}) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--objects", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="2,000 records, record nothing")
    ap.add_argument("--results", default=None, help="RESULTS.md to append to; 'none' to skip")
    args = ap.parse_args(argv)
    n = 2000 if args.quick else args.records
    results = C.results_path_from_args(args.results, args.quick)
    C.ensure_repo_on_path()
    from src.datasets.token_plan import build_plan, plan_template

    with tempfile.TemporaryDirectory(prefix="bench_plan_") as tmp:
        tmp = Path(tmp)
        os.environ["VLM_PREFLIGHT_CACHE"] = str(tmp / "cache")
        t0 = time.perf_counter()
        for name, count in (("quarter", n // 4), ("full", n)):
            write_records(tmp / f"{name}.jsonl", count, args.objects)
        t_gen = time.perf_counter() - t0

        def config(name: str):
            fusion = tmp / f"{name}.yaml"
            fusion.write_text(f"targets:\n  - name: dense\n    train_jsonl: {tmp / (name + '.jsonl')}\n")
            return C.load_config(C.DEFAULT_CONFIG, [f"custom.fusion_config={fusion}", "global_max_length=16384",
                                                    "template.max_pixels=1048576", f"training.output_dir={tmp / 'run'}"])

        cfg_quarter, cfg_full = config("quarter"), config("full")
        with C.Timer() as t_template:
            template = plan_template(cfg_full)
        timings = {}
        for label, cfg in (("cold_quarter", cfg_quarter), ("cold_full", cfg_full), ("warm_full", cfg_full)):
            before = os.times()
            with C.Timer() as t:
                plan = build_plan(cfg, template)
            after = os.times()  # CPU of this process and of the plan's worker processes
            t.cpu = sum(after[:4]) - sum(before[:4])
            timings[label] = (t, plan)
        assert not timings["cold_full"][1].cached and timings["warm_full"][1].cached
        counts = timings["cold_full"][1].entries[0].counts
    quarter_rate = (n // 4) / timings["cold_quarter"][0].wall
    rate = n / timings["cold_full"][0].wall
    cpu_rate = n / timings["cold_full"][0].cpu
    lines = [
        (f"records: {n} dense, {args.objects} objects each (generated in {t_gen:.1f} s); tokens per record "
         f"p50 {int(np.median(counts.total))}, max {int(counts.total.max())}"),
        f"template (tokenizer + processor, once): {t_template.wall:.2f} s",
        f"cold plan, {n // 4} records: {timings['cold_quarter'][0].wall:.2f} s = {quarter_rate:,.0f} records/s",
        (f"cold plan, {n} records: {timings['cold_full'][0].wall:.2f} s wall, {timings['cold_full'][0].cpu:.2f} s CPU "
         f"(workers included) = {rate:,.0f} records/s ({cpu_rate:,.0f} per CPU-second)"),
        (f"per-record cost, full / quarter: {quarter_rate / rate:.2f} wall, "
         f"{(timings['cold_full'][0].cpu / n) / (timings['cold_quarter'][0].cpu / (n // 4)):.2f} CPU "
         "(1.00 = linear in records)"),
        f"warm plan (cache hit), {n} records: {timings['warm_full'][0].wall:.2f} s",
        f"records/s {rate:,.0f} vs goal {TARGET:,.0f}: {C.verdict(rate, TARGET, higher_is_better=True)}",
    ]
    print("\n".join(lines))
    C.append_results("Token-budget plan (bench_plan.py)", lines, path=results,
                     summary=[C.Figure("cold plan", round(rate), TARGET, ">=", unit="records/s")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
