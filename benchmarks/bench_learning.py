#!/usr/bin/env python
"""Does training through this launcher teach the tiny model to *see*? Real run vs image-shuffled control.

    python benchmarks/bench_learning.py [--quick] [--steps 1200] [--eval-every 300] [--model-variant pos|base]
        [--spec FIELD=VALUE] [--runs real,control] [--threads N] [--results PATH|none]

Two SFT runs of `python -m src.sft --config configs/smoke/sft_easy_tiny.yaml` from a random tiny
model (default the `pos` variant: a 2D sin-cos position code and 8-px patches, docs/learning.md) on the
one-object easy split (`--easy --one-object`: one large shape on black, 12 descs; 4,096 train and 64
val records; `--split easy` for one or two shapes), with a warm-up and cosine decay of the rates
(SCHEDULE), identical but for the training data: the
control's images are shuffled between records (a derangement; labels kept), so only the image-text
link is broken. Every `--eval-every` steps the checkpoint is evaluated on the (real) val split with
`src.eval.evaluate` (greedy generation, Hungarian matching):

- val loss (the trainer's eval loss, per target token), parse rate, F1@0.5 (IoU >= 0.5, desc
  ignored), mAP (COCO bbox AP@[.5:.95], per desc), desc accuracy (multiset of predicted descs vs the
  image's ground truth descs, location ignored: matched / max(predicted, true) summed over images),
  colour and shape accuracy apart (with the true -> predicted desc table), loc F-beta (the
  dense_loc_fbeta reward's F1 over IoU 0.5:0.95), the number of distinct predicted boxes, the mean
  training loss per desc and per coordinate token since the previous point, and the val loss per
  coordinate token with each record's own image vs the next record's.

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
SPLITS = {  # name: (data directory, fusion config, one object per image)
    "one-object": ("synthetic_easy_one", "configs/fusion/variants/synthetic_easy_one.yaml", True),
    "easy": ("synthetic_easy", "configs/fusion/variants/synthetic_easy.yaml", False),
}
# On top of the preset (issue #27, docs/learning.md): a 5 % linear warm-up and a cosine decay of every
# part's rate to 0 over the run, the way real recipes schedule it (measured: shape accuracy 0.58 at
# step 900 of 1200 vs 0.36 at step 900 with the preset's constant rates).
# `--set training.lr_scheduler_type=constant --set training.warmup_ratio=0.0` gives the preset's back.
SCHEDULE = ("training.lr_scheduler_type=cosine", "training.warmup_ratio=0.05")
KEYS = ("val_loss", "parse_rate", "f1@0.5", "mAP", "desc_acc", "colour_acc", "shape_acc", "loc_fbeta",
        "distinct_boxes", "train_desc_loss", "train_coord_loss", "coord_loss_own", "coord_loss_other")
EASY_DATA = C.REPO_ROOT / "artifacts" / "data" / "synthetic_easy_one"  # set by main() from --split


def build_data(n_train: int, n_val: int, one_object: bool = True) -> Path:
    C.ensure_repo_on_path()
    from src.datasets.synthetic import SyntheticSpec, generate_dataset

    spec = SyntheticSpec(seed=0, n_train=n_train, n_val=n_val, easy=True, one_object=one_object)
    return generate_dataset(EASY_DATA, spec)


def build_model(variant: str, spec_overrides: list[str]) -> str | None:
    """The model directory of ``variant`` (a key of TINY_VARIANTS), with ``--spec`` fields on top
    (built under artifacts/tiny-exp-<fingerprint>); None for the preset's own model."""
    C.ensure_repo_on_path()
    from dataclasses import fields, replace

    from src.models.tiny_qwen3_vl import TINY_VARIANTS, build_tiny_model

    out, spec = TINY_VARIANTS[variant]
    if spec_overrides:
        types = {f.name: f.type for f in fields(spec)}
        values = dict(item.split("=", 1) for item in spec_overrides)
        cast = {"int": int, "float": float, "bool": lambda v: v.lower() in ("1", "true"), "str": str}
        spec = replace(spec, **{k: cast[types[k]](v) for k, v in values.items()})
        out = f"artifacts/tiny-exp-{spec.fingerprint()}"
    if variant == "base" and not spec_overrides:
        return None
    build_tiny_model(C.REPO_ROOT / out, spec)
    return out


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


def overrides(run_dir: Path, steps: int, every: int, fusion: Path | str, extra: list[str]) -> list[str]:
    out = [f"custom.fusion_config={fusion}", *extra, f"training.output_dir={run_dir}", f"training.logging_dir={run_dir}/tb", f"training.max_steps={steps}",
           f"training.save_steps={every}", f"training.eval_steps={every}", "training.save_total_limit=null"]
    return out


def train(run_dir: Path, over: list[str], threads: int | None) -> float:
    from src.models.cpu_env import training_env

    cmd = [sys.executable, "-m", "src.sft", "--config", PRESET, "--allow-existing-run-dir", *over]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=C.REPO_ROOT, capture_output=True, text=True, check=False,
                          env=training_env(threads))
    if proc.returncode != 0:
        raise SystemExit(f"training failed ({' '.join(cmd)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return time.perf_counter() - t0


def box_scores(pred_file: Path, val_jsonl: Path) -> tuple[float, int]:
    """Mean loc F-beta (the dense_loc_fbeta reward's F1 over IoU 0.5:0.95, pixels) and the number of
    distinct predicted boxes over the evaluated images (a model that ignores the image repeats a few)."""
    from src.rewards.dense import loc_fbeta, objects_from_dicts

    truth = [json.loads(line)["objects"] for line in val_jsonl.read_text().splitlines()]
    preds = [json.loads(line) for line in pred_file.read_text().splitlines()]
    scores = [loc_fbeta(objects_from_dicts(p["objects"]), objects_from_dicts(truth[p["index"]])) for p in preds]
    boxes = {tuple(o.get("bbox_2d") or ()) for p in preds for o in p["objects"]}
    return (sum(scores) / len(scores) if scores else 0.0), len(boxes)


def token_type_losses(window: list[dict]) -> dict[str, float | None]:
    """Mean training loss per desc / coordinate target token over the logged steps of ``window``
    (the telemetry's ``loss/token_type/*``, weighted by each step's token counts)."""
    out = {}
    for kind in ("desc", "coord"):
        pairs = [(r[f"loss/token_type/{kind}"], r[f"tokens/token_type/{kind}"]) for r in window
                 if f"loss/token_type/{kind}" in r]
        total = sum(n for _, n in pairs)
        out[f"train_{kind}_loss"] = sum(v * n for v, n in pairs) / total if total else None
    return out


def desc_accuracy(pred_file: Path, val_jsonl: Path) -> float:
    truth = [Counter(o["desc"] for o in json.loads(line)["objects"]) for line in val_jsonl.read_text().splitlines()]
    hit = total = 0
    for line in pred_file.read_text().splitlines():
        p = json.loads(line)
        pred, gt = Counter(o["desc"] for o in p["objects"]), truth[p["index"]]
        hit += sum((pred & gt).values())
        total += max(sum(pred.values()), sum(gt.values()))
    return hit / total if total else 0.0


def desc_parts(pred_file: Path, val_jsonl: Path) -> tuple[dict[str, float], Counter]:
    """Colour and shape accuracy of the first predicted desc against the first true one (a desc is
    "<colour> <shape>"; an image without a prediction counts as wrong) and the (true, predicted)
    desc counts: what a low desc accuracy gets wrong."""
    truth = [json.loads(line)["objects"] for line in val_jsonl.read_text().splitlines()]
    pairs = Counter()
    for line in pred_file.read_text().splitlines():
        p = json.loads(line)
        pred = p["objects"][0]["desc"] if p["objects"] else "(none)"
        pairs[(truth[p["index"]][0]["desc"], pred)] += 1
    n = sum(pairs.values())

    def part(i: int) -> float:
        return sum(c for (t, q), c in pairs.items() if len(q.split()) == 2 and q.split()[i] == t.split()[i]) / n

    return {"colour_acc": part(0), "shape_acc": part(1)}, pairs


def confusion_lines(name: str, step: int, pairs: Counter) -> list[str]:
    """The (true -> predicted) desc table of one evaluation, most frequent first."""
    cells = ", ".join(f"{t} -> {q} x{c}" for (t, q), c in sorted(pairs.items(), key=lambda kv: -kv[1]))
    return [f"{name} step {step} desc (true -> predicted): {cells}"]


def swap_losses(cfg, ckpt: Path, n_val: int) -> dict[str, float | None]:
    """Mean loss per coordinate token of the val targets with each record's own image vs the next
    record's (tests/support/conditioning.py): what the image adds to the boxes."""
    sys.path.insert(0, str(C.REPO_ROOT / "tests"))
    from support.conditioning import image_swap_token_losses

    own, other = image_swap_token_losses(cfg, ckpt, num=n_val, shift=1)["coord"]
    pairs = [(a, b) for a, b in zip(own, other) if a is not None and b is not None]
    if not pairs:
        return {"coord_loss_own": None, "coord_loss_other": None}
    return {"coord_loss_own": sum(a for a, _ in pairs) / len(pairs), "coord_loss_other": sum(b for _, b in pairs) / len(pairs)}


def evaluate_run(run_dir: Path, over: list[str], n_val: int, confusions: list[str] | None = None) -> list[dict]:
    C.ensure_repo_on_path()
    from src.config import load_training_config
    from src.eval import evaluate

    cfg = load_training_config(C.REPO_ROOT / PRESET, over)
    rows = [json.loads(line) for line in (run_dir / "logging.jsonl").read_text().splitlines()]
    losses = {row["global_step/max_steps"].split("/")[0]: row["eval_loss"] for row in rows if "eval_loss" in row}
    curve, prev = [], 0
    for ckpt in sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        step = int(ckpt.name.split("-")[1])
        m = evaluate(cfg, ckpt, split="val", num=n_val, batch_size=16, num_overlays=4, show=False)
        preds = run_dir / "eval" / ckpt.name / "val" / "predictions.jsonl"
        loc, distinct = box_scores(preds, EASY_DATA / "val.jsonl")
        window = [r for r in rows if "loss" in r and prev < int(r["global_step/max_steps"].split("/")[0]) <= step]
        prev = step
        parts, pairs = desc_parts(preds, EASY_DATA / "val.jsonl")
        if confusions is not None:
            confusions += confusion_lines(run_dir.name, step, pairs)
        curve.append({"step": step, "val_loss": losses.get(str(step)), "parse_rate": m["parse/parse_rate"],
                      "f1@0.5": m["match/f1@0.50"], "mAP": m["bbox/map"],
                      "desc_acc": desc_accuracy(preds, EASY_DATA / "val.jsonl"), **parts, "loc_fbeta": loc,
                      "distinct_boxes": distinct, **token_type_losses(window), **swap_losses(cfg, ckpt, n_val)})
    return curve


def plot(curves: dict[str, list[dict]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG (pip install matplotlib)")
        return False
    fig, axes = plt.subplots(4, 4, figsize=(15, 12))
    axes = axes.ravel()
    for ax in axes[len(KEYS):]:
        ax.axis("off")
    for ax, key in zip(axes, KEYS):
        for name, curve in curves.items():
            pts = [(row["step"], row[key]) for row in curve if row[key] is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"tiny Qwen3-VL on the {EASY_DATA.name} split: real images vs images shuffled between records")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def fmt(v) -> str:
    return "-" if v is None else str(v) if isinstance(v, int) else f"{v:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few steps, to check the benchmark runs")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--eval-every", type=int, default=300)
    ap.add_argument("--split", choices=sorted(SPLITS), default="one-object",
                    help="one-object: exactly one shape per image (default); easy: one or two")
    ap.add_argument("--train", type=int, default=4096, help="training records of the split")
    ap.add_argument("--val", type=int, default=64, help="val records evaluated at each point (the split has 64)")
    ap.add_argument("--model-variant", default="pos",
                    help="tiny model variant (src.models.tiny_qwen3_vl.TINY_VARIANTS; default pos: docs/learning.md)")
    ap.add_argument("--spec", action="append", default=[], metavar="FIELD=VALUE",
                    help="TinySpec field on top of the variant, e.g. text_layers=4 (exploration; repeatable)")
    ap.add_argument("--runs", default="real,control", help="which runs: real,control (default) or one of them")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per run (default: as the environment says)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for both runs, e.g. training.learning_rate=3.0e-3 (repeatable)")
    ap.add_argument("--out", default="output/bench/learning")
    ap.add_argument("--png", default="benchmarks/learning_curves.png")
    ap.add_argument("--results", default=None, help="RESULTS.md path, or 'none' (default: benchmarks/RESULTS.md)")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.eval_every, args.val = 4, 2, 4
    out = (C.REPO_ROOT / args.out).resolve()
    global EASY_DATA
    data_name, real_fusion, one_object = SPLITS[args.split]
    EASY_DATA = C.REPO_ROOT / "artifacts" / "data" / data_name
    data = build_data(args.train, 64, one_object)
    model = build_model(args.model_variant, args.spec)
    # A variant's directory has no recorded template fingerprint (src/audit keys them by directory name):
    # its runs record the fingerprint instead of checking it.
    extra = [*([f"model.model={model}", "custom.template_fingerprint=null"] if model else []), *SCHEDULE, *args.set]
    control_fusion = write_control(data, out / "control_data")
    curves, walls, confusions = {}, {}, []
    for name, fusion in (("real", real_fusion), ("control", control_fusion)):
        if name not in args.runs.split(","):
            continue
        run_dir = out / name
        over = overrides(run_dir, args.steps, args.eval_every, fusion, extra)
        print(f"training {name}: {args.steps} steps ...", flush=True)
        walls[name] = train(run_dir, over, args.threads)
        t0 = time.perf_counter()
        curves[name] = evaluate_run(run_dir, over, args.val, confusions)
        walls[name + " eval"] = time.perf_counter() - t0
    header = ["run", "step", *KEYS]
    rows = [[name, row["step"], *(fmt(row[k]) for k in KEYS)] for name, curve in curves.items() for row in curve]
    setup = (f"preset {PRESET} {' '.join(extra)}, model variant {args.model_variant} {' '.join(args.spec)}, "
             f"{args.train} {args.split} train records, {args.val} val records, {args.steps} steps of batch 8")
    lines = [C.machine_line(), setup, ""]
    lines += C.print_table(rows, header)
    print("\n".join(confusions))
    lines += ["", *confusions]
    (out / "curves.json").write_text(json.dumps(curves, indent=2) + "\n")
    if set(curves) != {"real", "control"}:
        C.append_results("Learning: one run, no control (bench_learning)", lines,
                         path=C.results_path_from_args(args.results, args.quick))
        return 0
    real, control = curves["real"][-1], curves["control"][-1]
    f1_met = "met" if real["f1@0.5"] >= control["f1@0.5"] + 0.3 else "NOT met"
    desc_met = "met" if real["desc_acc"] >= 0.9 else "NOT met"
    gap = (control["val_loss"] - real["val_loss"]) if None not in (real["val_loss"], control["val_loss"]) else None
    gap_met = "met" if gap is not None and gap >= 0.1 else "NOT met"
    walls_line = ", ".join(f"{k} {v:.0f}" for k, v in walls.items())
    lines += ["", f"wall seconds (shared machine; compare within this run only): {walls_line}",
              (f"final F1@0.5 real {real['f1@0.5']:.3f} vs control {control['f1@0.5']:.3f} "
               f"(target real >= control + 0.3: {f1_met})"),
              (f"final desc accuracy real {real['desc_acc']:.3f} vs control {control['desc_acc']:.3f} "
               f"(target real >= 0.9: {desc_met})"),
              (f"final val loss per target token real {fmt(real['val_loss'])} vs control {fmt(control['val_loss'])} "
               f"(target control - real >= 0.1: {gap_met})")]
    png = C.REPO_ROOT / args.png
    if plot(curves, png):
        lines.append(f"curves: {png.relative_to(C.REPO_ROOT) if png.is_relative_to(C.REPO_ROOT) else png}")
    for line in lines[-5:]:
        print(line)
    summary = [C.Figure("final F1@0.5 real - control", round(real["f1@0.5"] - control["f1@0.5"], 3), 0.3, ">="),
               C.Figure("final desc accuracy real", round(real["desc_acc"], 3), 0.9, ">="),
               C.Figure("final val loss control - real", float("nan") if gap is None else round(gap, 3), 0.1, ">=")]
    C.append_results("Learning: real vs image-shuffled control (bench_learning)", lines,
                     path=C.results_path_from_args(args.results, args.quick), summary=summary)  # None: nothing
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
