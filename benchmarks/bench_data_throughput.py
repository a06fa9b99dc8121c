#!/usr/bin/env python
"""Data throughput: samples/s of our dataset path vs ms-swift's own dataset encode of the same records.

    python benchmarks/bench_data_throughput.py [--passes 5] [--samples N] [--config configs/smoke/sft_dense_tiny.yaml]
                                               [--quick] [--results PATH|none]

One ms-swift template (``SftArguments(**build_swift_kwargs(cfg)).get_template(...)`` in train mode, the
object our run and a plain ms-swift run both build) encodes every variant:

* ``ours_aug_on``:  ``build_training_datasets(cfg, template)[0][i]`` with the preset's augmentation
  (fusion schedule, lazy JSONL record, image load, geometry-aware augmentation, target rendering,
  conversation, template encode);
* ``ours_aug_off``: the same with ``custom.augmentation.enabled=false``;
* ``mswift_lazy``:  what plain ms-swift trains on: ``LazyLLMDataset(load_dataset(<messages JSONL>), template.encode)``
  over the same records pre-rendered by our renderer (arrow row read, image load from path, encode);
* ``encode_only``:  ``template.encode(row)`` on in-memory rows (the floor both paths share).

Positions ``0..n-1`` of each variant are the same records (the JSONL is written in our schedule order);
the first positions are checked to encode to identical ``input_ids``/``labels``/``pixel_values``. Each
pass produces every position with every variant, interleaved per sample with a rotating order (so all
variants share the same background load on a shared machine). The headline ratio is the median over all
samples of t(mswift_lazy) / t(ours) for the same sample timed back to back (target >= 0.9); samples/s
(median over passes) and a per-stage breakdown of one pass are printed with it. Scale 4 repeats the
comparison on the same records with images and coordinates upsampled 4x. Figures come last and are
appended to RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

TARGET = 0.9
PARITY_SAMPLES = 8
NAMES = ["ours_aug_on", "ours_aug_off", "mswift_lazy", "encode_only"]


def build_template(cfg):
    """The ms-swift template a run of ``cfg`` uses (no model weights loaded)."""
    from swift import SftArguments

    from src.config.swift_args import build_swift_kwargs

    args = SftArguments(**build_swift_kwargs(cfg))
    _, processor = args.get_model_processor(load_model=False)
    template = args.get_template(processor)
    template.set_mode("train")
    return args, template


def build_variants(config: str, tmp: Path, overrides: list[str] | None = None) -> dict:
    """Configs, the template, our two datasets and the two ms-swift baselines over the same records."""
    C.ensure_repo_on_path()
    out = [f"training.output_dir={tmp / 'out'}", f"training.logging_dir={tmp / 'out' / 'tb'}", *(overrides or [])]
    cfg_on = C.load_config(config, out)
    cfg_off = C.load_config(config, [*out, "custom.augmentation.enabled=false"])

    t0 = time.perf_counter()
    args, template = build_template(cfg_off)
    t_template = time.perf_counter() - t0

    from swift.dataset import LazyLLMDataset, load_dataset

    from src.datasets.builder import build_training_datasets

    rendered = C.prerender_jsonl(cfg_off, tmp / "data")
    hf_train, _ = load_dataset([rendered["train"]], split_dataset_ratio=0.0, shuffle=False,
                               **args.get_dataset_kwargs())
    rows = [json.loads(line) for line in Path(rendered["train"]).read_text().splitlines()]
    return {
        "cfg_on": cfg_on,
        "cfg_off": cfg_off,
        "args": args,
        "template": template,
        "template_s": t_template,
        "aug_active": build_training_datasets(cfg_on, template)[0].members[0].transform.policy.augmentation
        is not None,
        "datasets": {
            "ours_aug_on": build_training_datasets(cfg_on, template)[0],
            "ours_aug_off": build_training_datasets(cfg_off, template)[0],
            "mswift_lazy": LazyLLMDataset(hf_train, template.encode, strict=False, random_state=args.data_seed),
        },
        "rows": rows,
    }


def parity(v: dict, n: int) -> tuple[int, int]:
    """How many of the first ``n`` positions encode identically (ours aug off vs ms-swift lazy)."""
    import torch

    ours, theirs = v["datasets"]["ours_aug_off"], v["datasets"]["mswift_lazy"]
    same = 0
    for i in range(n):
        a, b = ours[i], theirs[i]
        ok = list(a["input_ids"]) == list(b["input_ids"]) and list(a["labels"]) == list(b["labels"])
        if "pixel_values" in a or "pixel_values" in b:
            ok = ok and torch.allclose(torch.as_tensor(a["pixel_values"]), torch.as_tensor(b["pixel_values"]))
        same += ok
    return same, n


def producers(v: dict) -> dict:
    """variant -> ``f(i)`` producing position ``i``."""
    template, rows = v["template"], v["rows"]
    out = {name: (lambda i, ds=ds: ds[i % len(ds)]) for name, ds in v["datasets"].items()}
    out["encode_only"] = lambda i: template.encode(rows[i % len(rows)])
    return out


def time_pass(v: dict, names: list[str], n: int, shift: int = 0) -> dict[str, tuple[list[float], list[float]]]:
    """Per-sample wall and CPU seconds of each variant producing positions 0..n-1.

    Variants are interleaved per sample (the order rotates with every sample), so the variants' times for
    one sample are taken back to back, under the same background load; ``perf_counter`` /
    ``process_time`` around each call."""
    make = producers(v)
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for i in range(n):
        k = (i + shift) % len(names)
        for name in names[k:] + names[:k]:
            w0, c0 = time.perf_counter(), time.process_time()
            make[name](i)
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {name: (wall[name], cpu[name]) for name in names}


def breakdown(v: dict, n: int) -> list[tuple[str, float]]:
    """Per-sample milliseconds of each stage: our path with augmentation on and off, then ms-swift's."""
    from src.datasets.fusion_dataset import SampleContext

    template = v["template"]
    stages: dict[str, float] = {}

    def add(key: str, seconds: float) -> None:
        stages[key] = stages.get(key, 0.0) + seconds

    for label, name in (("aug on", "ours_aug_on"), ("aug off", "ours_aug_off")):
        ds = v["datasets"][name]
        sched = ds.schedule(0)
        for i in range(n):
            pos = i % len(ds)
            t0 = time.perf_counter()
            d, r = (int(x) for x in sched.pairs[pos])
            member = ds.members[d]
            record = member.records[r]
            ctx = SampleContext(member.name, d, ds.roles[d], r, pos, 0, ds.seed, 0.0)
            t1 = time.perf_counter()
            conv = member.transform.conversation(record, ctx)
            t2 = time.perf_counter()
            template.encode(conv)
            t3 = time.perf_counter()
            add(f"ours ({label}): schedule + JSONL record", t1 - t0)
            what = "image load, augment, render" if label == "aug on" else "render, image paths"
            add(f"ours ({label}): {what}", t2 - t1)
            add(f"ours ({label}): template.encode", t3 - t2)
    hf = v["datasets"]["mswift_lazy"].dataset
    for i in range(n):
        t0 = time.perf_counter()
        row = hf[i % len(hf)]
        t1 = time.perf_counter()
        template.encode(row, return_length=True)
        t2 = time.perf_counter()
        add("mswift: arrow row read", t1 - t0)
        add("mswift: template.encode (image paths)", t2 - t1)
    return [(k, sec / n * 1e3) for k, sec in stages.items()]


def scaled_copy(cfg, out_dir: Path, scale: int) -> Path:
    """The preset's first fusion target with every image and coordinate scaled by ``scale`` (nearest
    neighbour upsampling), plus a fusion config naming it; returns that fusion config's path.

    The smoke images are at most 256 px; production presets feed ~1024 px images, where per-sample
    costs that grow with the pixel count (decode, copies) start to matter."""
    from PIL import Image

    from src.config import load_fusion_config
    from src.datasets.jsonl_index import JsonlIndex

    target = load_fusion_config(cfg.fusion_config_path).targets[0]
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    with (out_dir / "train.jsonl").open("w") as f:
        for k, record in enumerate(JsonlIndex(target.train_path)):
            (path,) = record.image_paths()
            with Image.open(path) as im:
                im.convert("RGB").resize((record.width * scale, record.height * scale), Image.NEAREST).save(
                    out_dir / "images" / f"{k:06d}.png")
            row = record.to_dict()
            row.update(images=[f"images/{k:06d}.png"], width=record.width * scale, height=record.height * scale)
            for obj in row["objects"]:
                for key in ("bbox_2d", "poly", "line"):
                    if key in obj:
                        obj[key] = [v * scale for v in obj[key]]
            f.write(json.dumps(row) + "\n")
    fusion = out_dir / "fusion.yaml"
    fusion.write_text(json.dumps({"targets": [{
        "name": f"{target.name}_x{scale}", "dataset": target.dataset, "train_jsonl": str(out_dir / "train.jsonl"),
        "ratio": 1.0, "mode": target.mode, "augmentation": target.augmentation}], "sources": []}))
    return fusion


def measure(config: str, tmp: Path, overrides: list[str], passes: int, samples: int | None) -> dict:
    """One comparison: parity, interleaved passes, stage breakdown."""
    v = build_variants(config, tmp, overrides)
    n = samples or len(v["datasets"]["ours_aug_off"])
    same, checked = parity(v, min(PARITY_SAMPLES, n))
    time_pass(v, NAMES, min(2, n))  # warm-up: first image decodes, tokenizer caches
    walls: dict[str, list[float]] = {k: [] for k in NAMES}  # samples/s of each pass
    cpus: dict[str, list[float]] = {k: [] for k in NAMES}
    paired: dict[str, list[float]] = {k: [] for k in NAMES}  # per sample: t(mswift_lazy) / t(variant)
    paired_cpu: dict[str, list[float]] = {k: [] for k in NAMES}
    for p in range(passes):
        timed = time_pass(v, NAMES, n, shift=p)
        base_w, base_c = timed["mswift_lazy"]
        for name, (wall, cpu) in timed.items():
            walls[name].append(n / sum(wall))
            cpus[name].append(n / sum(cpu) if sum(cpu) > 0 else float("nan"))
            paired[name] += [b / w for b, w in zip(base_w, wall) if w > 0]
            paired_cpu[name] += [b / c for b, c in zip(base_c, cpu) if c > 0 and b > 0]
    aug = v["cfg_on"].custom.augmentation
    return {"n": n, "records": len(v["rows"]), "same": same, "checked": checked, "walls": walls, "cpus": cpus,
            "paired": {k: C.median(x) for k, x in paired.items()},
            "paired_cpu": {k: C.median(x) for k, x in paired_cpu.items()},
            "stages": breakdown(v, n), "template_s": v["template_s"], "aug_active": v["aug_active"],
            "aug": json.dumps(aug.model_dump(mode="json") if hasattr(aug, "model_dump") else str(aug)),
            "max_pixels": v["cfg_off"].template.get("max_pixels")}


def report(title: str, m: dict, passes: int) -> tuple[list[str], list[str]]:
    """(section lines, closing ratio lines) of one comparison; both printed."""
    med = {k: C.median(m["walls"][k]) for k in NAMES}
    med_cpu = {k: C.median(m["cpus"][k]) for k in NAMES}
    base = med["mswift_lazy"]
    print()
    lines = [(f"[{title}] {m['records']} records, {m['n']} samples per pass, {passes} pass(es), variants "
              f"interleaved per sample; medians. template.max_pixels={m['max_pixels']}; template built in "
              f"{m['template_s']:.1f}s"),
             f"augmentation (ours_aug_on): {m['aug']} (active: {m['aug_active']})",
             (f"parity ours_aug_off vs mswift_lazy: {m['same']}/{m['checked']} samples with identical input_ids, "
              "labels, pixel_values")]
    for line in lines:
        print(line)
    lines += C.print_table(
        [[k, f"{med[k]:.1f}", f"{min(m['walls'][k]):.1f}-{max(m['walls'][k]):.1f}", f"{med_cpu[k]:.1f}",
          f"{C.ratio(med[k], base):.3f}", f"{m['paired'][k]:.3f}", f"{m['paired_cpu'][k]:.3f}"] for k in NAMES],
        ["variant", "samples/s", "range", "samples/cpu-s", "vs_mswift", "paired", "paired_cpu"])
    lines.append("vs_mswift: ratio of the median samples/s; paired: median over every sample of "
                 "t(mswift_lazy) / t(variant), timed back to back (robust to background load)")
    print(lines[-1])
    lines.append("per-sample stage times (ms, one pass):")
    print(lines[-1])
    for k, ms in m["stages"]:
        lines.append(f"  {k:46s} {ms:8.2f}")
        print(lines[-1])
    tail, figures = [], []
    for variant, note in (("ours_aug_off", ""), ("ours_aug_on", " (the ms-swift side does no augmentation)")):
        r = m["paired"][variant]
        figures.append(C.Figure(f"[{title}] paired ratio ours/ms-swift, augmentation {variant[-3:].strip('_')}",
                                round(r, 3), TARGET, ">="))
        tail.append(f"[{title}] ratio ours/ms-swift, augmentation {variant[-3:].strip('_')}: {r:.3f} paired "
                    f"(CPU {m['paired_cpu'][variant]:.3f}, median samples/s {C.ratio(med[variant], base):.3f}) "
                    f"target >= {TARGET} -> {C.verdict(r, TARGET, higher_is_better=True)}{note}")
    return lines, tail, figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=C.DEFAULT_CONFIG)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--samples", type=int, default=None, help="positions per pass (default: one epoch)")
    ap.add_argument("--scales", default="1,4", help="image scale factors to run (1 = the preset's own data; "
                    "4 = its images and coordinates upsampled 4x, ~1024 px, with max_pixels scaled too)")
    ap.add_argument("--scaled-samples", type=int, default=32, help="positions per pass for scales > 1")
    ap.add_argument("--quick", action="store_true", help="1 pass of 4 samples at scale 1, nothing recorded (tests)")
    ap.add_argument("--results", default=None, help="RESULTS.md to append to; 'none' to skip "
                    "(default: benchmarks/RESULTS.md, none with --quick)")
    args = ap.parse_args(argv)
    scales = [int(x) for x in args.scales.split(",") if x.strip()]
    if args.quick:
        args.passes, args.samples, scales = 1, args.samples or 4, [1]
    results = C.results_path_from_args(args.results, args.quick)

    lines: list[str] = [f"config {args.config}"]
    tail: list[str] = []
    figures: list[C.Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        for scale in scales:
            work = Path(tmp) / f"x{scale}"
            overrides: list[str] = []
            samples = args.samples
            if scale != 1:
                base_cfg = C.load_config(args.config, [f"training.output_dir={work / 'out'}"])
                fusion = scaled_copy(base_cfg, work / "data_scaled", scale)
                max_pixels = int(base_cfg.template.get("max_pixels") or 65536) * scale * scale
                overrides = [f"custom.fusion_config={fusion}", f"template.max_pixels={max_pixels}",
                             f"global_max_length={max(4096, int(base_cfg.global_max_length or 0))}"]
                samples = args.samples or args.scaled_samples
            m = measure(args.config, work, overrides, args.passes, samples)
            section, ratios, scale_figures = report(f"images x{scale}", m, args.passes)
            lines += section
            tail += ratios
            figures += scale_figures
    tail.insert(0, f"peak RSS: {C.peak_rss_mb():.0f} MB")
    print()
    for line in tail:
        print(line)
    C.append_results("Data throughput: our dataset path vs ms-swift dataset encode", lines + tail, path=results,
                     summary=figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
