#!/usr/bin/env python
"""Does training through this launcher teach the tiny model to *see*? Real run vs image-shuffled control.

    python benchmarks/bench_learning.py [--quick] [--steps 400] [--eval-every 100] [--results PATH|none]

Two SFT runs of `python -m src.sft --config configs/smoke/sft_easy_tiny.yaml` from the random tiny
model on the easy synthetic split (`--easy`: one or two large shapes on black, 12 descs), identical
but for the training data: the control's images are shuffled between records (a derangement;
labels kept), so only the image-text link is broken. Every `--eval-every` steps the checkpoint is
evaluated on the (real) val split with `src.eval.evaluate` (greedy generation, Hungarian matching):

- val loss (the trainer's eval loss), parse rate, F1@0.5 (IoU >= 0.5, desc ignored), mAP (COCO
  bbox AP@[.5:.95], per desc), desc accuracy (multiset of predicted descs vs the image's ground
  truth descs, location ignored: matched / max(predicted, true) summed over images).

A model that ignores the image can learn the label prior (parse rate 1, desc accuracy near chance
1/12 for the most frequent answer, F1 of the average box); only the real run can go beyond. The
curves are printed, written to RESULTS.md with the command and machine, and drawn into a PNG
(matplotlib). Learning numbers do not depend on machine speed; wall times do.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

PRESET = "configs/smoke/sft_easy_tiny.yaml"
EASY_DATA = C.REPO_ROOT / "artifacts" / "data" / "synthetic_easy"
KEYS = ("val_loss", "parse_rate", "f1@0.5", "mAP", "desc_acc")


def build_data(n_train: int, n_val: int) -> Path:
    C.ensure_repo_on_path()
    from src.datasets.synthetic import SyntheticSpec, generate_dataset

    return generate_dataset(EASY_DATA, SyntheticSpec(seed=0, n_train=n_train, n_val=n_val, easy=True))


def write_control(data: Path, out: Path) -> Path:
    """A fusion config whose train records carry another record's image (labels kept)."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    images = [str(data / r["images"][0]) for r in rows]
    if len(rows) < 2:
        raise SystemExit(f"the control needs at least 2 training records to swap images, {data} has {len(rows)}")
    shift = len(rows) // 2  # a rotation by 1 <= shift < n: no record keeps its own image
    lines = [json.dumps({**r, "images": [images[(i + shift) % len(rows)]]}) for i, r in enumerate(rows)]
    (out / "train.jsonl").write_text("\n".join(lines) + "\n")
    val = [json.loads(line) for line in (data / "val.jsonl").read_text().splitlines()]
    (out / "val.jsonl").write_text("\n".join(json.dumps({**r, "images": [str(data / r["images"][0])]}) for r in val) + "\n")
    fusion = out / "fusion.yaml"
    fusion.write_text(
        "targets:\n  - name: synthetic_easy\n    dataset: synthetic\n"
        f"    train_jsonl: {out / 'train.jsonl'}\n    val_jsonl: {out / 'val.jsonl'}\n"
        "    ratio: 1.0\n    mode: dense\n    augmentation: false\nsources: []\n")
    return fusion


def overrides(run_dir: Path, steps: int, every: int, fusion: Path | None, extra: list[str]) -> list[str]:
    out = [*extra, f"training.output_dir={run_dir}", f"training.logging_dir={run_dir}/tb", f"training.max_steps={steps}",
           f"training.save_steps={every}", f"training.eval_steps={every}", "training.save_total_limit=null"]
    return out + ([f"custom.fusion_config={fusion}"] if fusion else [])


def train(run_dir: Path, over: list[str]) -> float:
    cmd = [sys.executable, "-m", "src.sft", "--config", PRESET, *over]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=C.REPO_ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"training failed ({' '.join(cmd)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return time.perf_counter() - t0


def desc_accuracy(pred_file: Path, val_jsonl: Path) -> float:
    truth = [Counter(o["desc"] for o in json.loads(line)["objects"]) for line in val_jsonl.read_text().splitlines()]
    hit = total = 0
    for line in pred_file.read_text().splitlines():
        p = json.loads(line)
        pred, gt = Counter(o["desc"] for o in p["objects"]), truth[p["index"]]
        hit += sum((pred & gt).values())
        total += max(sum(pred.values()), sum(gt.values()))
    return hit / total if total else 0.0


def evaluate_run(run_dir: Path, over: list[str], n_val: int) -> list[dict]:
    C.ensure_repo_on_path()
    from src.config import load_training_config
    from src.eval import evaluate

    cfg = load_training_config(C.REPO_ROOT / PRESET, over)
    losses = {row["global_step/max_steps"].split("/")[0]: row["eval_loss"]
              for row in map(json.loads, (run_dir / "logging.jsonl").read_text().splitlines()) if "eval_loss" in row}
    curve = []
    for ckpt in sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        step = int(ckpt.name.split("-")[1])
        m = evaluate(cfg, ckpt, split="val", num=n_val, batch_size=16, num_overlays=4, show=False)
        out = run_dir / "eval" / ckpt.name / "val"
        curve.append({"step": step, "val_loss": losses.get(str(step)), "parse_rate": m["parse/parse_rate"],
                      "f1@0.5": m["match/f1@0.50"], "mAP": m["bbox/map"],
                      "desc_acc": desc_accuracy(out / "predictions.jsonl", EASY_DATA / "val.jsonl")})
    return curve


def plot(curves: dict[str, list[dict]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG (pip install matplotlib)")
        return False
    fig, axes = plt.subplots(1, len(KEYS), figsize=(4 * len(KEYS), 3.4))
    for ax, key in zip(axes, KEYS):
        for name, curve in curves.items():
            pts = [(row["step"], row[key]) for row in curve if row[key] is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("tiny Qwen3-VL on the easy synthetic split: real images vs images shuffled between records")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few steps, to check the benchmark runs")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--train", type=int, default=512, help="easy training records")
    ap.add_argument("--val", type=int, default=16, help="val records evaluated at each point")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for both runs, e.g. training.learning_rate=3.0e-3 (repeatable)")
    ap.add_argument("--out", default="output/bench/learning")
    ap.add_argument("--png", default="benchmarks/learning_curves.png")
    ap.add_argument("--results", default=None, help="RESULTS.md path, or 'none' (default: benchmarks/RESULTS.md)")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.eval_every, args.val = 4, 2, 4
    out = (C.REPO_ROOT / args.out).resolve()
    data = build_data(args.train, 64)
    control_fusion = write_control(data, out / "control_data")
    curves, walls = {}, {}
    for name, fusion in (("real", None), ("control", control_fusion)):
        run_dir = out / name
        over = overrides(run_dir, args.steps, args.eval_every, fusion, args.set)
        print(f"training {name}: {args.steps} steps ...", flush=True)
        walls[name] = train(run_dir, over)
        t0 = time.perf_counter()
        curves[name] = evaluate_run(run_dir, over, args.val)
        walls[name + " eval"] = time.perf_counter() - t0
    header = ["run", "step", *KEYS]
    rows = [[name, row["step"], *(fmt(row[k]) for k in KEYS)] for name, curve in curves.items() for row in curve]
    setup = (f"preset {PRESET} {' '.join(args.set)}, {args.train} easy train records, {args.val} val records, "
             f"{args.steps} steps of batch 8")
    lines = [C.machine_line(), setup, ""]
    lines += C.print_table(rows, header)
    real, control = curves["real"][-1], curves["control"][-1]
    f1_met = "met" if real["f1@0.5"] >= control["f1@0.5"] + 0.3 else "NOT met"
    desc_met = "met" if real["desc_acc"] >= 0.9 else "NOT met"
    walls_line = ", ".join(f"{k} {v:.0f}" for k, v in walls.items())
    lines += ["", f"wall seconds (shared machine; compare within this run only): {walls_line}",
              (f"final F1@0.5 real {real['f1@0.5']:.3f} vs control {control['f1@0.5']:.3f} "
               f"(target real >= control + 0.3: {f1_met})"),
              (f"final desc accuracy real {real['desc_acc']:.3f} vs control {control['desc_acc']:.3f} "
               f"(target real >= 0.9: {desc_met})")]
    png = C.REPO_ROOT / args.png
    if plot(curves, png):
        lines.append(f"curves: {png.relative_to(C.REPO_ROOT) if png.is_relative_to(C.REPO_ROOT) else png}")
    for line in lines[-4:]:
        print(line)
    (out / "curves.json").write_text(json.dumps(curves, indent=2) + "\n")
    C.append_results("Learning: real vs image-shuffled control (bench_learning)", lines,
                     path=C.results_path_from_args(args.results, args.quick))  # None (quick, 'none'): nothing
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
