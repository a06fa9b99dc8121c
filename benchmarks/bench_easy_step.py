#!/usr/bin/env python
"""One step of the easy recipe: where the time goes, and the malloc tunables' speed-up at identical losses.

    python benchmarks/bench_easy_step.py [--steps 20] [--reps 3] [--threads 1] [--profile] [--results PATH|none]

Runs ``python -m src.sft --config configs/smoke/sft_easy_tiny.yaml`` (batch 8, the one-object easy split,
no evaluation, no checkpoint) for ``--steps`` steps, alternately with this process's environment
("default malloc") and with :func:`src.models.cpu_env.training_env`'s glibc malloc tunables ("tuned"),
``--reps`` times each, in alternating order (the machine may be shared: compare within one run). Per run it
reads the trainer's ``train_runtime`` (the training loop, start-up excluded) and the per-step losses;
it reports seconds per step, the paired ratio, and whether the losses of every step are bit-identical
between the two environments (they must be: only where memory comes from differs).

``--profile`` first runs one child under cProfile and splits the step into forward (the loss
computation), backward, optimizer, data loading and encoding, and logging, then one under
torch.profiler and prints the operators that take the time (grouped by input shape).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

PRESET = "configs/smoke/sft_easy_tiny.yaml"
FUSION = "configs/fusion/variants/synthetic_easy_one.yaml"
MARK = "@@ "  # the child's table lines (its stdout also carries the trainer's log lines)
# (label, file suffix, function name) of the cProfile categories; cumulative seconds.
CATEGORIES = (
    ("training loop", "transformers/trainer.py", "_inner_training_loop"),
    ("forward + loss (compute_loss)", "swift/trainers/seq2seq_trainer.py", "compute_loss"),
    ("backward", "torch/_tensor.py", "backward"),
    ("optimizer step (AdamW, all params incl. the tied 151k x 64 embedding)", "torch/optim/optimizer.py", "wrapper"),
    ("data loading + encoding (DataLoader __next__)", "torch/utils/data/dataloader.py", "__next__"),
    ("logging / save / eval hooks", "transformers/trainer.py", "_maybe_log_save_evaluate"),
)


def overrides(out: Path, steps: int) -> list[str]:
    return [f"custom.fusion_config={FUSION}", f"training.max_steps={steps}", "training.eval_strategy='no'",
            "training.save_strategy='no'", f"training.output_dir={out}", f"training.logging_dir={out}/tb",
            "training.report_to=[none]"]


def build_data() -> None:
    C.ensure_repo_on_path()
    from src.datasets.synthetic import SyntheticSpec, generate_dataset

    generate_dataset(C.REPO_ROOT / "artifacts/data/synthetic_easy_one",
                     SyntheticSpec(seed=0, n_train=4096, n_val=64, easy=True, one_object=True))


def run_once(out: Path, steps: int, env: dict[str, str]) -> dict:
    cmd = [sys.executable, "-m", "src.sft", "--config", PRESET, "--allow-existing-run-dir", *overrides(out, steps)]
    proc = subprocess.run(cmd, cwd=C.REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"training failed ({' '.join(cmd)}):\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r and "train_runtime" not in r]
    runtime = next(r["train_runtime"] for r in rows if "train_runtime" in r)
    return {"s_per_step": runtime / steps, "losses": losses}


def child_profile(out: Path, steps: int, kind: str) -> None:
    """In-process run of src.sft under cProfile (categories) or torch.profiler (operators)."""
    C.ensure_repo_on_path()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from src.sft import main

    argv = ["--config", PRESET, "--allow-existing-run-dir", *overrides(out, steps)]
    if kind == "cprofile":
        prof = cProfile.Profile()
        prof.runcall(main, argv)
        stats = pstats.Stats(prof).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
        rows = []
        for label, suffix, func in CATEGORIES:
            ct = sum(v[3] for (f, _, name), v in stats.items() if f.endswith(suffix) and name == func)
            rows.append([label, f"{ct / steps:.3f}"])
        for line in C.print_table(rows, ["part of a step (cProfile, cumulative)", "s/step"]):
            print(MARK + line)
        return
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
        main(argv)
    events = p.key_averages(group_by_input_shape=True)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:14]
    total = sum(e.self_cpu_time_total for e in events)
    rows = [[e.key[:48], str(e.input_shapes)[:60], f"{e.self_cpu_time_total / 1e6 / steps:.3f}",
             f"{100 * e.self_cpu_time_total / total:.1f}"] for e in top]
    for line in C.print_table(rows, ["operator", "input shapes", "s/step", "% of op time"]):
        print(MARK + line)
    vocab = sum(e.self_cpu_time_total for e in events if "151680" in str(e.input_shapes))
    print(f"{MARK}operators on a vocabulary-sized tensor (151680 in a shape): {100 * vocab / total:.0f}% of op time, "
          f"{vocab / 1e6 / steps:.3f} s/step")


def profile_lines(out: Path, steps: int, env: dict[str, str]) -> list[str]:
    lines = []
    for kind in ("cprofile", "torch"):
        cmd = [sys.executable, __file__, "--child-profile", kind, "--steps", str(steps), "--out", str(out / kind)]
        proc = subprocess.run(cmd, cwd=C.REPO_ROOT, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"profiling failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
        table = [ln[len(MARK):] for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
        lines += [f"{kind} ({steps} steps, this environment):", *table, ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="also profile a run in each environment")
    ap.add_argument("--quick", action="store_true", help="3 steps, 1 repetition, nothing recorded")
    ap.add_argument("--out", default="output/bench/easy_step")
    ap.add_argument("--results", default=None, help="RESULTS.md path, or 'none' (default: benchmarks/RESULTS.md)")
    ap.add_argument("--child-profile", choices=("cprofile", "torch"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    out = (C.REPO_ROOT / args.out).resolve()
    if args.child_profile:
        child_profile(out, args.steps, args.child_profile)
        return 0
    if args.quick:
        args.steps, args.reps = 3, 1
    C.ensure_repo_on_path()
    from src.models.cpu_env import training_env

    build_data()
    envs = {"default malloc": training_env(args.threads, base={**os.environ, "GLIBC_TUNABLES": ""}),
            "tuned": training_env(args.threads)}
    envs["default malloc"].pop("GLIBC_TUNABLES")
    lines = [C.machine_line(), (f"preset {PRESET}, fusion {FUSION}, batch 8, {args.steps} steps per run, "
             f"{args.threads} thread(s), {args.reps} repetition(s) in alternating order (shared machine: noisy)"), ""]
    if args.profile:
        for name, env in envs.items():
            lines += [f"### profile, {name}", *profile_lines(out / "profile" / name.replace(" ", "_"), args.steps, env)]
    runs: dict[str, list[dict]] = {name: [] for name in envs}
    for rep in range(args.reps):
        for name in C.alternating(list(envs), rep):
            runs[name].append(run_once(out / name.replace(" ", "_"), args.steps, envs[name]))
            print(f"rep {rep} {name}: {runs[name][-1]['s_per_step']:.3f} s/step", flush=True)
    base, tuned = (runs[n] for n in envs)
    ratios = [t["s_per_step"] / b["s_per_step"] for b, t in zip(base, tuned)]
    identical = all(r["losses"] == base[0]["losses"] for r in base + tuned)
    med_tuned = C.median(r["s_per_step"] for r in tuned)
    def secs(rs: list[dict]) -> str:
        return ", ".join(f"{r['s_per_step']:.3f}" for r in rs) + f" (median {C.median(r['s_per_step'] for r in rs):.3f})"

    lines += [f"s/step default malloc: {secs(base)}", f"s/step tuned:          {secs(tuned)}",
              f"paired ratio tuned/default: {', '.join(f'{x:.3f}' for x in ratios)} (median {C.median(ratios):.3f})",
              (f"per-step losses bit-identical across all {2 * args.reps} runs ({args.steps} steps): "
               f"{'yes' if identical else 'NO'}; last loss {base[0]['losses'][-1]:.6f}"),
              f"target <= 0.5 s/step: {C.verdict(med_tuned, 0.5)} ({med_tuned:.3f}, {args.threads} thread(s))"]
    for line in lines[-5:]:
        print(line)
    C.append_results("Easy-recipe step: profile and malloc tunables (bench_easy_step)", lines,
                     path=C.results_path_from_args(args.results, args.quick),
                     summary=[C.Figure("s/step, tuned malloc (median)", round(med_tuned, 3), 0.5, unit="s"),
                              C.Figure("per-step losses bit-identical", "yes" if identical else "NO")])
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
