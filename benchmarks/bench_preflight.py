#!/usr/bin/env python
"""Benchmark: the records pre-flight (src/datasets/preflight.py): header scan per 10k images, and its share
of time-to-first-step on the smoke preset with a cold and a warm cache.

    python benchmarks/bench_preflight.py [--images 10000] [--reps 3] [--ttfs-reps 2] [--quick] [--results PATH|none]

1. Scan: a generated set of ``--images`` records, one image each (half 640x480 JPEGs with EXIF, half
   640x480 PNGs; a separate file each, all just written, so in the OS page cache), checked as the
   pre-flight checks them: the record contract over the JSONL, then every image's header (size, format,
   EXIF orientation, end marker) in the thread pool, and with one worker for comparison; then the
   same pre-flight again, answered from the cache. Medians over ``--reps``.
2. Share: ``python -m src.sft`` on configs/smoke/sft_dense_tiny.yaml (the launcher benchmark's child with its
   step timer, bench_launcher_overhead.py), ``--ttfs-reps`` runs each with an empty pre-flight cache (cold)
   and with the cache the previous run filled (warm). The pre-flight's own time is read from its log line
   (the `records_preflight` call; PIL and numpy, which it imports, the run imports anyway); TTFS = end of
   optimizer step 1 - process start. Goal: warm share <= 5 %.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.ensure_repo_on_path()
TARGET_SHARE = 0.05
CONFIG = "configs/smoke/sft_dense_tiny.yaml"
LOG_LINE = re.compile(r"records pre-flight: (\d+) records, .* checked in ([0-9.]+)s( \(cached\))?")


def _image_bytes(fmt: str) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    buf = io.BytesIO()
    if fmt == "JPEG":
        exif = Image.Exif()
        exif[0x0112] = 1
        image.save(buf, format="JPEG", quality=85, exif=exif.tobytes())
    else:
        image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def generate(folder: Path, n: int) -> Path:
    """``n`` records, one distinct image file each; returns the JSONL."""
    import json

    (folder / "images").mkdir(parents=True)
    payload = {"JPEG": _image_bytes("JPEG"), "PNG": _image_bytes("PNG")}
    lines = []
    for i in range(n):
        fmt = "JPEG" if i % 2 else "PNG"
        name = f"images/{i:06d}.{'jpg' if fmt == 'JPEG' else 'png'}"
        # a separate file each (the same bytes): every probe opens, parses and reads the tail of its own file
        (folder / name).write_bytes(payload[fmt])
        lines.append(json.dumps({"images": [name], "width": 640, "height": 480,
                                 "objects": [{"desc": "box", "bbox_2d": [10, 20, 300 + i % 100, 400]}]}))
    path = folder / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def time_scan(jsonl: Path, reps: int) -> dict[str, float]:
    from src.datasets.preflight import DataFile, PreflightResult, check_records, scan_images

    files = [DataFile("bench", "train", jsonl, False, None)]
    out: dict[str, list[float]] = {"records": [], "pool": [], "serial": []}
    for rep in range(reps):
        for variant in C.alternating(["pool", "serial"], rep):
            result = PreflightResult()
            t0 = time.perf_counter()
            images = check_records(files, result)
            t1 = time.perf_counter()
            scan_images(files, images, result, workers=1 if variant == "serial" else None)
            out[variant].append(time.perf_counter() - t1)
            out["records"].append(t1 - t0)
            assert not result.problems and result.images == len(images), result.problems[:3]
    return {k: C.median(v) for k, v in out.items()}


def time_cached(jsonl: Path, cache: Path, reps: int) -> tuple[float, float]:
    """The whole pre-flight through `records_preflight` (a fusion config over the generated set): cold, then warm."""
    from src.config import load_training_config
    from src.datasets.preflight import records_preflight

    fusion = jsonl.parent / "fusion.yaml"
    fusion.write_text(f"targets:\n  - name: bench\n    train_jsonl: {jsonl}\n")
    cfg = load_training_config(CONFIG, [f"custom.fusion_config={fusion}"])
    os.environ["VLM_PREFLIGHT_CACHE"] = str(cache)
    cold = records_preflight(cfg).seconds
    warm = C.median(records_preflight(cfg).seconds for _ in range(reps))
    return cold, warm


def time_to_first_step(reps: int, work: Path) -> dict[str, list[tuple[float, float]]]:
    """(pre-flight seconds, TTFS seconds) per run, cold and warm cache."""
    import bench_launcher_overhead as L

    runs: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    common = ["training.max_steps=1", "training.save_strategy='no'", "custom.augmentation.enabled=false"]
    for rep in range(reps):
        cache = work / f"cache{rep}"
        for variant in ("cold", "warm"):  # warm reuses the cache the cold run of this repetition filled
            run_dir = work / f"{variant}{rep}"
            os.environ["VLM_PREFLIGHT_CACHE"] = str(cache)
            cmd = L._child_cmd("ours", CONFIG, [*common, f"training.output_dir={run_dir / 'out'}",
                                                f"training.logging_dir={run_dir / 'out' / 'tb'}"], run_dir / "none")
            result = L.run_once(variant, cmd, run_dir, steps=1)
            match = LOG_LINE.search((run_dir / "child.log").read_text(errors="replace"))
            if match is None or bool(match.group(3)) != (variant == "warm"):
                raise RuntimeError(f"{variant} run: no matching pre-flight log line in {run_dir / 'child.log'}")
            runs[variant].append((float(match.group(2)), result["ttfs"]))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--ttfs-reps", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="500 images, one repetition, no training runs")
    parser.add_argument("--results", default=None, help="RESULTS.md path, or none")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.reps, args.ttfs_reps = 500, 1, 0
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench_preflight_") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        jsonl = generate(work / "data", args.images)
        lines.append(f"generated {args.images} records + images (640x480, half JPEG with EXIF, half PNG) in "
                     f"{time.perf_counter() - t0:.1f}s; cores usable {C.usable_cores()}")
        scan = time_scan(jsonl, args.reps)
        per10k = 10_000 / args.images
        cold, warm = time_cached(jsonl, work / "cache", max(args.reps, 1))
        lines += [
            f"record contract over the JSONL: {scan['records'] * per10k:.2f}s per 10k records",
            (f"header scan, thread pool:       {scan['pool'] * per10k:.2f}s per 10k images "
            f"({args.images / scan['pool']:.0f} images/s)"),
            (f"header scan, one thread:        {scan['serial'] * per10k:.2f}s per 10k images "
            f"(pool speed-up {scan['serial'] / scan['pool']:.2f}x)"),
            (f"whole pre-flight (records_preflight), cold cache: {cold * per10k:.2f}s per 10k; warm (cached): "
            f"{warm * 1000:.2f} ms"),
        ]
        summary = [C.Figure("whole pre-flight, cold cache", round(cold * per10k, 3), unit="s per 10k records")]
        if args.ttfs_reps:
            runs = time_to_first_step(args.ttfs_reps, work)
            for variant, pairs in runs.items():
                pre, ttfs = C.median(p for p, _ in pairs), C.median(t for _, t in pairs)
                share = pre / ttfs
                if variant == "warm":
                    summary.append(C.Figure("pre-flight share of TTFS, warm cache", round(share * 100, 3), TARGET_SHARE * 100,
                                            unit="%"))
                target = f" target <= {TARGET_SHARE:.0%} -> {C.verdict(share, TARGET_SHARE)}" if variant == "warm" else ""
                lines.append(f"smoke preset ({CONFIG}), {variant} cache: pre-flight {pre * 1000:.2f} ms of TTFS "
                             f"{ttfs:.1f}s = {share:.3%} (median of {len(pairs)}; per run "
                             + ", ".join(f"{p * 1000:.2f} ms / {t:.1f}s" for p, t in pairs) + f"){target}")
    for line in lines:
        print(line)
    C.append_results("Records pre-flight: header scan and share of time-to-first-step", lines,
                     path=C.results_path_from_args(args.results, args.quick), summary=summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
