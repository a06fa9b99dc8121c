"""Does GRPO improve the warm tiny checkpoint's localisation? Mean dense_loc_fbeta over K steps.

    python benchmarks/bench_grpo_warm.py [--quick] [--steps 32] [--seeds 3] [--set KEY=VALUE ...] [--results PATH|none]

Runs the GRPO smoke preset (``configs/smoke/grpo_dense_tiny.yaml``: the warm plain-JSON checkpoint from
``make artifacts-warm``, 16 easy records it never saw, the four dense rewards, 4 completions per prompt at
temperature 1) for ``--steps`` optimizer steps and reads, per step, the mean of each dense reward over
that step's completions from ``logging.jsonl``. One prompt per step makes a step's mean noisy, so the
script reports the mean of the first and of the last quarter of the steps and a least-squares slope,
draws the per-step curve with a moving average to ``benchmarks/grpo_warm_curve.png``, and, the steadier
figure, evaluates greedy generation with ``src.eval`` before (the warm checkpoint) and after the GRPO
steps, on the 16 records GRPO trained on, on the split's 8 held-out val records GRPO never saw, and on
the 64 val records of the warm checkpoint's own split (``synthetic_easy_warm``, never seen by either). The GRPO
run is repeated for ``--seeds`` seeds (``training.seed`` / ``data.data_seed``); the report gives each
seed's before -> after and the mean change with its min..max over seeds. Whether localisation improves
is the question it answers; no target.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

PRESET = "configs/smoke/grpo_dense_tiny.yaml"
# (split, extra overrides, label): where greedy detections are scored before and after GRPO
EVALS = (("train", (), "the 16 GRPO records"), ("val", (), "the 8 held-out val records"),
         ("val", ("custom.fusion_config=configs/fusion/variants/synthetic_easy_warm.yaml",),
          "the 64 held-out val records of the warm split"))
REWARDS = ("dense_loc_fbeta", "dense_cat_f1", "dense_parse", "dense_format")


def train(run_dir: Path, steps: int, extra: list[str]) -> float:
    over = [f"training.output_dir={run_dir}", f"training.logging_dir={run_dir}/tb", f"training.max_steps={steps}",
            f"training.save_steps={steps}", *extra]
    from src.models.cpu_env import training_env

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "src.sft", "--config", PRESET, "--allow-existing-run-dir", *over],
                          cwd=C.REPO_ROOT, capture_output=True, text=True, check=False, env=training_env(None))
    if proc.returncode != 0:
        raise SystemExit(f"GRPO run failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def per_step(run_dir: Path) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run_dir / "logging.jsonl").read_text().splitlines()]
    return [{"step": int(r["global_step/max_steps"].split("/")[0]), "reward": r["reward"],
             **{name: r[f"rewards/{name}/mean"] for name in REWARDS}}
            for r in rows if "reward" in r and "global_step/max_steps" in r]


def greedy_scores(checkpoint: Path, out_dir: Path, extra: list[str], split: str = "train") -> dict[str, float]:
    """Greedy ``src.eval`` metrics of ``checkpoint`` on the records of ``split`` (the preset's split: train,
    the 16 GRPO trains on; val, the 8 held-out ones; or the split ``extra`` names)."""
    from src.config import load_training_config
    from src.eval import evaluate

    cfg = load_training_config(C.REPO_ROOT / PRESET, [f"training.output_dir={out_dir}", *extra])
    m = evaluate(cfg, checkpoint, split=split, batch_size=8, out_dir=out_dir, num_overlays=0, show=False)
    return {"parse": m["parse/parse_rate"], "f1@0.5": m["match/f1@0.50"], "f1@0.5:0.95": m["match/f1@0.50:0.95"],
            "cat_f1@0.5": m["match/cat_f1@0.50"], "mAP": m["bbox/map"]}


def change_lines(split: str, before: dict[str, float], afters: list[dict[str, float]]) -> list[str]:
    """Per-seed before -> after, and the mean change with its min..max over seeds."""
    lines = [f"greedy src.eval on {split}, warm -> after GRPO, seed {i}: " + ", ".join(
        f"{k} {before[k]:.3f} -> {a[k]:.3f}" for k in before) for i, a in enumerate(afters)]
    deltas = {k: [a[k] - before[k] for a in afters] for k in before}
    lines.append(f"{split}: mean change over {len(afters)} seed(s) (min..max): " + ", ".join(
        f"{k} {sum(d) / len(d):+.3f} ({min(d):+.3f}..{max(d):+.3f})" for k, d in deltas.items()))
    return lines


def slope(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def moving_average(values: list[float], window: int) -> list[float]:
    return [sum(values[max(0, i - window + 1): i + 1]) / len(values[max(0, i - window + 1): i + 1])
            for i in range(len(values))]


def plot(curve: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in curve]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, name in zip(axes, ("dense_loc_fbeta", "dense_cat_f1")):
        values = [row[name] for row in curve]
        ax.plot(steps, values, marker=".", alpha=0.5, label="per step (one prompt, 4 completions)")
        ax.plot(steps, moving_average(values, 8), label="moving average (8 steps)")
        ax.set_title(name)
        ax.set_xlabel("GRPO step")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("GRPO from the warm tiny checkpoint (configs/smoke/grpo_dense_tiny.yaml)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 steps, nothing recorded (tests)")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=3, help="GRPO runs with seeds 0..N-1")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config override")
    ap.add_argument("--out", default="output/bench/grpo_warm")
    ap.add_argument("--png", default="benchmarks/grpo_warm_curve.png")
    ap.add_argument("--results", default=None, help="RESULTS.md path, or 'none' (default: benchmarks/RESULTS.md)")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.seeds = 4, 1
    C.ensure_repo_on_path()
    from src.models.warm_checkpoint import build_warm_checkpoint

    warm = build_warm_checkpoint("plain")
    out = (C.REPO_ROOT / args.out).resolve()
    seeds = list(range(args.seeds))
    curves, walls = [], []
    for seed in seeds:
        print(f"GRPO from the warm checkpoint: {args.steps} steps, seed {seed} ...", flush=True)
        walls.append(train(out / f"seed{seed}", args.steps, [f"training.seed={seed}", f"data.data_seed={seed}", *args.set]))
        curves.append(per_step(out / f"seed{seed}"))
    curve = curves[0]
    quarter = max(1, len(curve) // 4)
    lines = [C.machine_line(), (f"preset {PRESET} {' '.join(args.set)}, {len(curve)} steps x {len(seeds)} seed(s), "
                                f"wall {', '.join(f'{w:.0f}' for w in walls)} s"), "", "seed 0, per step:"]
    lines += C.print_table([[row["step"], *(f"{row[n]:.3f}" for n in ("reward", *REWARDS))] for row in curve],
                           ["step", "reward", *REWARDS])
    lines.append("")
    for seed, c in zip(seeds, curves):
        for name in ("dense_loc_fbeta", "dense_cat_f1", "reward"):
            values = [row[name] for row in c]
            first, last = sum(values[:quarter]) / quarter, sum(values[-quarter:]) / quarter
            lines.append(f"seed {seed} {name}: first {quarter} steps {first:.3f} -> last {quarter} steps {last:.3f} "
                         f"(slope {slope([row['step'] for row in c], values):+.4f} per step)")
    summary = [C.Figure("reward slope per step, seed 0", round(slope([r["step"] for r in curve], [r["reward"] for r in curve]), 5))]
    for i, (split, extra, label) in enumerate(EVALS):
        before = greedy_scores(warm, out / f"eval_warm_{i}", [*args.set, *extra], split)
        afters = [greedy_scores(out / f"seed{seed}" / f"checkpoint-{args.steps}", out / f"seed{seed}" / f"eval_{i}",
                                [*args.set, *extra], split) for seed in seeds]
        lines += change_lines(label, before, afters)
        for metric in ("f1@0.5", "mAP"):
            change = sum(a[metric] - before[metric] for a in afters) / len(afters)
            summary.append(C.Figure(f"{metric} change, {label} (mean over seeds)", round(change, 4)))
    png = C.REPO_ROOT / args.png
    if not args.quick:
        plot(curve, png)
        lines.append(f"curve (seed 0): {png.relative_to(C.REPO_ROOT)}")
    for line in lines[-(len(EVALS) * (len(seeds) + 1) + 1):]:
        print(line)
    C.append_results("GRPO from the warm checkpoint: dense rewards per step (bench_grpo_warm)", lines,
                     path=C.results_path_from_args(args.results, args.quick), summary=summary)  # None: nothing
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
