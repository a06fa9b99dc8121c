#!/usr/bin/env python
"""Benchmark: `python -m src.datasets.convert coco` on a generated COCO file of 100k annotations.

    python benchmarks/bench_convert.py [--annotations 100000] [--per-image 5] [--quick] [--results PATH|none]

Generates, in a temporary folder, ``annotations / per-image`` tiny distinct PNG files (64x48, the
same bytes under every name: each conversion still opens every file and reads its header) and one
COCO instances JSON (3 of 5 annotations a 6-point polygon, the rest boxes-only; 80 categories).
Then, in this process:

* convert: ``read_coco`` + ``write_records`` as the CLI runs them (JSON load, per-image header read
  and size comparison, per-object checks, JSONL write, category table, then the validator over the
  output, which opens every image header again);
* validator alone: ``validate_jsonl`` on the written JSONL (to split the total).

Figures (records/s, annotations/s, the validator's share) are printed last. The page cache is warm
(the images were just written): header reads on a cold disk are slower.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import _common as C

C.ensure_repo_on_path()

W, H = 64, 48


def generate(root: Path, n_ann: int, per_image: int, seed: int = 0) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.new("RGB", (W, H), (90, 120, 150)).save(buf, format="PNG")
    png = buf.getvalue()
    (root / "images").mkdir()
    n_img = -(-n_ann // per_image)
    images = []
    for i in range(n_img):
        name = f"{i:07d}.png"
        (root / "images" / name).write_bytes(png)
        images.append({"id": i + 1, "file_name": name, "width": W, "height": H})
    xy = rng.uniform(0, [W - 20, H - 20], size=(n_ann, 2))
    wh = rng.uniform(4, 20, size=(n_ann, 2))
    anns = []
    for k in range(n_ann):
        x, y = float(xy[k, 0]), float(xy[k, 1])
        w, h = float(wh[k, 0]), float(wh[k, 1])
        seg = [[x, y, x + w, y, x + w, y + h / 2, x + w / 2, y + h, x, y + h, x, y + h / 2]] if k % 5 < 3 else []
        anns.append({"id": k + 1, "image_id": k // per_image + 1, "category_id": k % 80 + 1, "iscrowd": 0,
                     "bbox": [x, y, w, h], "area": w * h, "segmentation": seg})
    cats = [{"id": c + 1, "name": f"category {c + 1}", "supercategory": "thing"} for c in range(80)]
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--annotations", type=int, default=100_000)
    ap.add_argument("--per-image", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="500 annotations, nothing recorded (tests)")
    ap.add_argument("--results", default=None, help="RESULTS.md to append to; 'none' to skip "
                    "(default: benchmarks/RESULTS.md, none with --quick)")
    args = ap.parse_args(argv)
    n_ann = 500 if args.quick else args.annotations
    from src.datasets.convert.coco import read_coco
    from src.datasets.convert.descmap import DescMap
    from src.datasets.convert.writer import WriteOptions, write_records
    from src.datasets.validate import validate_jsonl

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        ann = generate(root, n_ann, args.per_image)
        gen_s = time.perf_counter() - t0
        out = root / "out" / "train.jsonl"
        with C.Timer() as conv:
            report = write_records("coco", read_coco(ann, root / "images"), WriteOptions(out, DescMap()))
        assert report.exit_code == 0, report.issues[:3]
        with C.Timer() as val:
            checked = validate_jsonl(out)
        assert checked.ok and checked.records == report.records
        size_mb = ann.stat().st_size / 1e6
    n_obj = sum(report.objects.values())
    lines = [
        (f"generated {n_ann:,} annotations on {report.records:,} images ({W}x{H} PNG files), COCO JSON "
        f"{size_mb:.1f} MB, in {gen_s:.1f}s"),
        f"objects written: {dict(report.objects)}",
        (f"convert (incl. validator): {conv.wall:.2f}s wall, {conv.cpu:.2f}s CPU = {report.records / conv.wall:,.0f} "
        f"records/s, {n_obj / conv.wall:,.0f} annotations/s"),
        f"validator alone:           {val.wall:.2f}s wall ({val.wall / conv.wall:.0%} of the conversion)",
        f"convert without validator: {report.records / (conv.wall - val.wall):,.0f} records/s (difference)",
    ]
    print("\n".join(lines))
    C.append_results("Converter: COCO -> JSONL records/s", lines,
                     path=C.results_path_from_args(args.results, args.quick),
                     summary=[C.Figure("convert (incl. validator)", round(report.records / conv.wall), unit="records/s")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
