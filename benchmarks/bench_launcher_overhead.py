#!/usr/bin/env python
"""Launcher overhead: the smoke SFT through `python -m src.sft` vs plain `swift.sft_main(SftArguments(...))`.

    python benchmarks/bench_launcher_overhead.py [--reps 5] [--steps 20] [--config configs/smoke/sft_dense_tiny.yaml]
                                                 [--quick] [--profile] [--results PATH|none]

Both sides train the same model on the same records with the same ms-swift arguments for the same
number of steps:

* ours:  ``python -m src.sft --config <preset> custom.augmentation.enabled=false training.max_steps=N
  training.save_strategy=no training.output_dir=<tmp>`` (fusion dataset, lazy JSONL index, our
  rendering, provenance manifest, callbacks: everything the launcher does);
* plain: ``swift.sft_main(SftArguments(**kwargs))`` where ``kwargs = build_swift_kwargs(cfg)`` of that
  same resolved config, with ``dataset``/``val_dataset`` replaced by a messages JSONL pre-rendered by our
  own ``render_target``/``build_conversation`` (identical tokens), written in our epoch-0 schedule order,
  and ``dataset_shuffle=False`` (so both trainers see the same samples at every step; the per-step
  losses are compared as a check).

Timing (identical for both sides): the harness re-runs this file as the child process, which installs an
import hook that adds a tiny ``TrainerCallback`` to every ``transformers.Trainer`` (no extra import, no
argument change) and then runs the measured command in-process. The callback writes wall-clock and
process-CPU time at train begin and at each optimizer step end. Time-to-first-step (TTFS) = end of step 1
minus the parent's clock just before ``Popen``; mean step time = (t_N - t_2) / (N - 2), i.e. steps 3..N.
Repetitions alternate the order (ours, plain / plain, ours); medians are reported. Figures and ratios
(ours / plain; targets: step <= 1.03, TTFS <= 1.05) are printed last and appended to RESULTS.md.

Also reported: the peak memory of a step (GPU: torch's allocator peak; CPU: the resident high-water
mark, reset at each step begin) with telemetry on vs off (``ours`` / ``ours_no_telemetry``, target
<= 1.02); how exactly the per-dataset and per-token-type losses in ours' ``logging.jsonl`` recombine
(token-weighted) to each step's ``loss`` (target rel 1e-4); and the wall time of ``inspect`` on the
config next to ``python -c "import swift.arguments"`` (fresh interpreters, taking turns); and, robust
to the load of a shared machine, the CPU cost of one training step with telemetry's loss path vs the
model's default loss, in one process on the same batch, taking turns (``paired_loss_path``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

STEP_TARGET = 1.03
TTFS_TARGET = 1.05
MEMORY_TARGET = 1.02  # step peak memory, telemetry on / off
RECOMBINATION_TARGET = 1e-4
TIMING_ENV = "BENCH_STEP_TIMING_FILE"
PROFILE_ENV = "BENCH_PROFILE_FILE"


# ============================================================================= child side
def _install_step_timer(path: str) -> None:
    """Time the phases of the run without importing anything now and without changing any argument.

    One-shot meta-path finders wrap the loaders of ``transformers.trainer`` and
    ``swift.pipelines.train.sft``; once such a module has executed, a few methods are wrapped to write
    an event (wall clock, process CPU time) to ``path``: ``SwiftSft.__init__`` (model, processor,
    template), ``SwiftSft.run`` (datasets, trainer), ``Trainer.__init__`` (which also ``add_callback``s a
    timer for train begin and every optimizer step end). Both sides get the same hooks.
    """
    import functools
    import importlib.abc
    import importlib.util

    def record(event: str, **extra) -> None:
        with open(path, "a") as f:
            f.write(json.dumps({"event": event, "t": time.time(), "cpu": time.process_time(), **extra}) + "\n")

    def timed(cls, name: str, event: str, after=None) -> None:
        original = getattr(cls, name)

        @functools.wraps(original)  # ms-swift inspects Trainer.__init__'s signature
        def wrapper(self, *args, **kwargs):
            record(f"{event}_begin")
            out = original(self, *args, **kwargs)
            if after is not None:
                after(self)
            record(f"{event}_end")
            return out

        setattr(cls, name, wrapper)

    def patch_trainer(module) -> None:
        from transformers import TrainerCallback

        class StepTimer(TrainerCallback):
            base_mb = float("nan")

            def on_train_begin(self, args, state, control, **kwargs):
                record("train_begin", step=state.global_step)

            def on_step_begin(self, args, state, control, **kwargs):
                self.base_mb = _reset_peak_memory()

            def on_step_end(self, args, state, control, **kwargs):
                record("step", step=state.global_step, peak_mb=_peak_memory_mb(), base_mb=self.base_mb)

        timed(module.Trainer, "__init__", "trainer_init", after=lambda trainer: trainer.add_callback(StepTimer()))

    def patch_sft(module) -> None:
        timed(module.SwiftSft, "__init__", "sft_init")
        timed(module.SwiftSft, "run", "run")

    patches = {"transformers.trainer": patch_trainer, "swift.pipelines.train.sft": patch_sft}

    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, import_path, target=None):
            if name not in patches:
                return None
            patch = patches.pop(name)
            sys.meta_path.remove(self)  # find the real spec without coming back here
            try:
                spec = importlib.util.find_spec(name)
            finally:
                if patches:
                    sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def exec_and_patch(module):
                exec_module(module)
                patch(module)

            spec.loader.exec_module = exec_and_patch
            return spec

    sys.meta_path.insert(0, Hook())
    record("start")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cuda() -> Any:
    """torch.cuda when the run already uses it (never imports torch itself), else None."""
    torch = sys.modules.get("torch")
    if torch is None or not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return None
    return torch.cuda


def _reset_peak_memory() -> float:
    """Start a step's peak-memory window; the memory in use now (MB). GPU: torch's allocator peak;
    CPU: the process's resident high-water mark (VmHWM, reset through /proc/self/clear_refs)."""
    cuda = _cuda()
    if cuda is not None:
        cuda.reset_peak_memory_stats()
        return cuda.memory_allocated() / 2**20
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return float("nan")
    return _status_mb("VmRSS")


def _peak_memory_mb() -> float:
    cuda = _cuda()
    return cuda.max_memory_allocated() / 2**20 if cuda is not None else _status_mb("VmHWM")


def paired_loss_path(model_dir: str, rounds: int, batch: int = 2, length: int = 600, answer: int = 250) -> dict:
    """In-process, same model and batch, taking turns: one training step's CPU seconds (one thread; forward, loss,
    the token_acc argmax, backward) with the model's default loss vs telemetry's TokenLossTap plus its
    per-token sums; the losses must be identical. Free of the process-to-process noise of a shared machine."""
    import torch
    from transformers import AutoModelForImageTextToText

    from src.trainers.telemetry.reduction import group_sums
    from src.trainers.telemetry.token_loss import TokenLossTap, token_hits

    torch.manual_seed(0)
    torch.set_num_threads(1)  # CPU seconds of one thread: no OpenMP spin-waits inflated by other load
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).train()
    vocab = model.config.get_text_config().vocab_size
    ids = torch.randint(0, vocab, (batch, length))
    labels = ids.clone()
    labels[:, : length - answer] = -100
    tap = TokenLossTap()

    def step(telemetry: bool) -> tuple[float, float]:
        if telemetry:
            model.loss_function = tap
        else:
            model.__dict__.pop("_loss_function", None)
        t = time.process_time()
        out = model(input_ids=ids, labels=labels)
        preds = out.logits.argmax(-1)  # ms-swift's token_acc argmax (both sides)
        if telemetry:
            hits = token_hits(preds, labels)
            group_sums(3, torch.zeros_like(hits, dtype=torch.long), tap.take(), hits)
        out.loss.backward()
        model.zero_grad(set_to_none=True)
        return time.process_time() - t, float(out.loss)

    step(True), step(False)  # warm-up
    on, off, same = [], [], True
    for k in range(rounds):
        got = {flag: step(flag) for flag in ((True, False) if k % 2 == 0 else (False, True))}
        on.append(got[True][0])
        off.append(got[False][0])
        same &= got[True][1] == got[False][1]
    return {"on": C.median(on), "off": C.median(off), "ratio": C.median(a / b for a, b in zip(on, off)),
            "identical": same, "rounds": rounds}


def child_main(side: str, rest: list[str]) -> int:
    """Run one measured training job in this process (``side``: ours | plain), or the paired loss-path
    measurement (``side``: paired; prints one JSON line)."""
    if side == "paired":
        sys.path.insert(0, str(C.REPO_ROOT))
        print(json.dumps(paired_loss_path(rest[0], int(rest[1]))))
        return 0
    _install_step_timer(os.environ[TIMING_ENV])
    profile_path = os.environ.get(PROFILE_ENV)
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        if side == "ours":
            import runpy

            sys.path.insert(0, str(C.REPO_ROOT))
            sys.argv = ["src.sft", *rest]
            try:
                runpy.run_module("src.sft", run_name="__main__", alter_sys=True)
            except SystemExit as exc:
                return int(exc.code or 0)
            return 0
        with open(rest[0]) as f:
            kwargs = json.load(f)
        from swift import SftArguments, sft_main

        sft_main(SftArguments(**kwargs))
        return 0
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)


# ============================================================================= parent side
# Variants: name -> (child kind, extra overrides). "ours" and "plain" are the comparison; the others
# attribute our overhead (same launcher, one feature off).
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ours": ("ours", ()),
    "plain": ("plain", ()),
    "ours_no_telemetry": ("ours", ("custom.telemetry.per_dataset=false", "custom.telemetry.per_token_type=false")),
}


def _child_cmd(kind: str, config: str, overrides: list[str], kwargs_path: Path) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--"]
    if kind == "ours":
        return [*cmd, "--config", config, *overrides]
    return [*cmd, str(kwargs_path)]


def prepare(variant: str, config: str, common: list[str], run_dir: Path, rendered: dict) -> list[str]:
    """The child command of one run of ``variant`` in ``run_dir`` (writes the plain kwargs file)."""
    kind, extra = VARIANTS[variant]
    ov = [*common, *extra, f"training.output_dir={run_dir / 'out'}", f"training.logging_dir={run_dir / 'out' / 'tb'}"]
    run_dir.mkdir(parents=True, exist_ok=True)
    kwargs_path = run_dir / "swift_kwargs.json"
    if kind == "plain":
        kwargs_path.write_text(json.dumps(C.plain_swift_kwargs(C.load_config(config, ov), rendered), indent=1))
    return _child_cmd(kind, config, ov, kwargs_path)


def run_once(side: str, cmd: list[str], run_dir: Path, steps: int, profile: Path | None = None,
             threads: int | None = None) -> dict:
    """Start one child, wait for it, and turn its timing events into figures."""
    run_dir.mkdir(parents=True, exist_ok=True)
    timing = run_dir / "timing.jsonl"
    env = dict(os.environ, **{TIMING_ENV: str(timing)})
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop(PROFILE_ENV, None)
    if profile is not None:
        env[PROFILE_ENV] = str(profile)
    log = run_dir / "child.log"
    with log.open("wb") as out:
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=C.REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        t_end = time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{side} run failed (exit {proc.returncode}); log {log}:\n{tail}")
    events = [json.loads(line) for line in timing.read_text().splitlines() if line.strip()]
    first = {}
    for e in events:
        first.setdefault(e["event"], e)
    step = {e["step"]: e for e in events if e["event"] == "step"}
    if sorted(step) != list(range(1, steps + 1)):
        raise RuntimeError(f"{side} run logged steps {sorted(step)}, expected 1..{steps}")
    span = max(steps - 2, 1)
    nan = float("nan")
    s2 = 1 if steps < 3 else 2
    result = {
        "side": side,
        "ttfs": step[1]["t"] - t0,
        "interp": first["start"]["t"] - t0,  # interpreter start-up until the harness hook runs
        "setup": first["train_begin"]["t"] - t0,  # until trainer.train() begins
        "first_step": step[1]["t"] - first["train_begin"]["t"],
        "step": (step[steps]["t"] - step[s2]["t"]) / span,
        "step_med": C.median(step[k]["t"] - step[k - 1]["t"] for k in range(s2 + 1, steps + 1)),
        "cpu_ttfs": step[1]["cpu"],
        "cpu_step": (step[steps]["cpu"] - step[s2]["cpu"]) / span,
        "total": t_end - t0,
        "cpu_total": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "losses": _losses(run_dir / "out" / "logging.jsonl"),
        "recombination": _recombination(run_dir / "out" / "logging.jsonl"),
        # steps 2..N: step 1 also allocates the optimizer state
        "step_peak_mb": C.median(step[k].get("peak_mb", nan) for k in range(s2, steps + 1)),
        "step_extra_mb": C.median(step[k].get("peak_mb", nan) - step[k].get("base_mb", nan)
                                  for k in range(s2, steps + 1)),
        "phases": {},
    }
    result["phases"]["interpreter"] = result["interp"]
    marks = [("start", "imports+config"), ("sft_init_begin", "model+template"),
             ("sft_init_end", "datasets+prepare_model"), ("trainer_init_begin", "trainer init"),
             ("trainer_init_end", "callbacks+train setup"), ("train_begin", "first step"), ("step1", "")]
    for (a, name), (b, _) in itertools.pairwise(marks):
        end = step[1] if b == "step1" else first.get(b)
        if a in first and end is not None:
            result["phases"][name] = end["t"] - first[a]["t"]
    return result


def _losses(path: Path) -> dict[int, float]:
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if "loss" in row and "global_step/max_steps" in row:
                out[int(str(row["global_step/max_steps"]).split("/")[0])] = float(row["loss"])
    return out


def _recombination(path: Path) -> float | None:
    """Largest relative gap, over logged steps and telemetry families, between the token-weighted mean
    of a family's group losses and the step's loss (None without telemetry keys)."""
    worst = None
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if "loss" not in row or "global_step/max_steps" not in row:
            continue
        for family in ("dataset", "token_type"):
            names = [k.split("/", 2)[2] for k in row if k.startswith(f"loss/{family}/")]
            if not names:
                continue
            n = sum(row[f"tokens/{family}/{x}"] for x in names)
            mean = sum(row[f"loss/{family}/{x}"] * row[f"tokens/{family}/{x}"] for x in names) / n
            gap = abs(mean - row["loss"]) / abs(row["loss"])
            worst = gap if worst is None else max(worst, gap)
    return worst


def warm_up() -> float:
    """Import the heavy stack once so the first measured run does not pay for a cold page cache, and give
    ``src/`` the bytecode cache ms-swift's files got from pip at install time (``compileall``): with
    ``PYTHONDONTWRITEBYTECODE=1`` (set on this project's machines) our modules would otherwise be compiled
    from source in every measured run while ms-swift's load from ``.pyc``, which no user's second run sees."""
    import compileall

    t0 = time.perf_counter()
    compileall.compile_dir(str(C.REPO_ROOT / "src"), quiet=1)
    subprocess.run([sys.executable, "-c", "import swift.pipelines.train.sft, src.datasets.builder"],
                   cwd=C.REPO_ROOT, capture_output=True, check=False)
    return time.perf_counter() - t0


def print_profile(path: Path, side: str, limit: int = 25) -> list[str]:
    import io
    import pstats

    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    stats.sort_stats("cumulative").print_stats(limit)
    buf.write("\n--- restricted to src/ (our code) ---\n")
    stats.sort_stats("cumulative").print_stats("/work/main/src/|src/", limit)
    text = buf.getvalue()
    print(f"\n===== cProfile: {side} (top {limit} by cumulative time) =====")
    print(text)
    return text.splitlines()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        side, rest = argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:]
        return child_main(side, rest)

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=C.DEFAULT_CONFIG)
    ap.add_argument("--reps", type=int, default=5, help="repetitions per side (alternating order)")
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per run (step time = steps 3..N)")
    ap.add_argument("--quick", action="store_true", help="1 repetition of 3 steps, nothing recorded (tests)")
    ap.add_argument("--profile", action="store_true", help="one extra cProfile'd run per side, top functions")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP/MKL threads of both children (default: inherited; 1 makes CPU seconds per step "
                         "nearly independent of other load on a shared machine)")
    ap.add_argument("--no-attribution", dest="attribution", action="store_false",
                    help="skip the ours_no_telemetry variant (our launcher with telemetry off)")
    ap.add_argument("--keep", default=None, help="keep run directories under this folder")
    ap.add_argument("--results", default=None, help="RESULTS.md to append to; 'none' to skip "
                    "(default: benchmarks/RESULTS.md, none with --quick)")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.steps, args.attribution = 1, 3, False
    if args.steps < 3:
        ap.error("--steps must be >= 3 (step time is measured over steps 3..N)")
    results = C.results_path_from_args(args.results, args.quick)

    variants = ["ours", "plain"] + (["ours_no_telemetry"] if args.attribution else [])
    tmp_ctx = tempfile.TemporaryDirectory(prefix="bench_launcher_") if args.keep is None else None
    root = Path(tmp_ctx.name if tmp_ctx else args.keep).resolve()
    root.mkdir(parents=True, exist_ok=True)
    t_bench = time.perf_counter()
    try:
        common = ["custom.augmentation.enabled=false", f"training.max_steps={args.steps}",
                  "training.save_strategy='no'"]
        cfg = C.load_config(args.config, [*common, f"training.output_dir={root / 'render'}"])
        rendered = C.prerender_jsonl(cfg, root / "data")
        print(f"pre-rendered {rendered['n_train']} train / {rendered['n_val']} val rows for plain ms-swift "
              f"({rendered['train']})", flush=True)
        if not args.no_warmup:
            print(f"warm-up import of the stack: {warm_up():.1f}s", flush=True)

        runs: dict[str, list[dict]] = {v: [] for v in variants}
        for rep in range(args.reps):
            for variant in C.alternating(variants, rep):
                run_dir = root / f"{variant}_{rep}"
                cmd = prepare(variant, args.config, common, run_dir, rendered)
                r = run_once(variant, cmd, run_dir, args.steps, threads=args.threads)
                runs[variant].append(r)
                print(f"rep {rep} {variant:17s}: TTFS {r['ttfs']:6.2f}s (setup {r['setup']:5.2f}s, first step "
                      f"{r['first_step']:5.2f}s)  step {r['step']:6.3f}s  cpu/step {r['cpu_step']:6.3f}s  "
                      f"total {r['total']:6.1f}s  peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)

        if args.profile:
            for variant in ("ours", "plain"):
                run_dir = root / f"profile_{variant}"
                cmd = prepare(variant, args.config, common, run_dir, rendered)
                prof = run_dir / "profile.pstats"
                run_once(variant, cmd, run_dir, args.steps, profile=prof, threads=args.threads)
                print_profile(prof, variant)

        latency = inspect_latency(args.config, 3)
        loss_path = run_paired(args.config, 4 if args.quick else 12, args.threads) if args.attribution else None
        lines = summarize(runs, variants, args, time.perf_counter() - t_bench, latency, loss_path)
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()
    C.append_results("Launcher overhead: python -m src.sft vs plain swift.sft_main", lines, path=results,
                     summary=key_figures(runs, variants))
    return 0


KEYS = ("ttfs", "setup", "first_step", "step", "step_med", "cpu_ttfs", "cpu_step", "total", "peak_rss_mb",
        "step_peak_mb", "step_extra_mb")


def inspect_latency(config: str, rounds: int) -> dict[str, float]:
    """Median wall seconds of ``inspect`` on ``config`` and of ``import swift.arguments`` (fresh
    interpreters, taking turns after one warm-up round; bench_config_latency.time_commands)."""
    from bench_config_latency import TOOL, time_commands

    commands = {"inspect": [sys.executable, str(TOOL), "inspect", "--config", config],
                "import swift.arguments": [sys.executable, "-c", "import swift.arguments"]}
    out = {}
    for name, (times, code) in time_commands(commands, rounds, None).items():
        out[name] = C.median(times) if code == 0 else float("nan")
    return out


def run_paired(config: str, rounds: int, threads: int | None) -> dict:
    """paired_loss_path in a child process (the parent never imports torch)."""
    model_dir = C.load_config(config, []).model["model"]
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "paired", "--", str(model_dir),
                           str(rounds)], cwd=C.REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"paired loss-path measurement failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        return {"error": f"exit {proc.returncode}"}
    return json.loads(lines[-1])


def paired_line(paired: dict | None) -> list[str]:
    if paired is None:
        return []
    if "error" in paired:
        return [f"telemetry loss path, in-process paired: not measured ({paired['error']}, see above)"]
    return [(f"telemetry loss path, in-process paired ({paired['rounds']} rounds, same model and batch, CPU s per "
            f"forward+loss+argmax+backward): on {paired['on']:.3f} vs off {paired['off']:.3f}, ratio "
            f"{paired['ratio']:.3f}; losses identical: {paired['identical']}")]


def memory_lines(med: dict[str, dict[str, float]], variants: list[str]) -> list[str]:
    if "ours_no_telemetry" not in variants:
        return []
    on, off = med["ours"], med["ours_no_telemetry"]
    ratio = C.ratio(on["step_peak_mb"], off["step_peak_mb"])
    return [(f"step peak memory telemetry on/off: {ratio:.4f} ({on['step_peak_mb']:.0f} vs {off['step_peak_mb']:.0f} MB; "
            f"the step's own allocations {on['step_extra_mb']:.0f} vs {off['step_extra_mb']:.0f} MB, ratio "
            f"{C.ratio(on['step_extra_mb'], off['step_extra_mb']):.3f}; plain {med['plain']['step_peak_mb']:.0f} MB) "
            f"target <= {MEMORY_TARGET} -> {C.verdict(ratio, MEMORY_TARGET)}")]


def worst_recombination(runs: dict[str, list[dict]]) -> float | None:
    gaps = [r["recombination"] for r in runs["ours"] if r["recombination"] is not None]
    return max(gaps) if gaps else None


def loss_parity(runs: dict[str, list[dict]]) -> float:
    """max |loss(ours) - loss(plain)| over the steps both logged, every repetition."""
    diffs = []
    for o, p in zip(runs["ours"], runs["plain"]):
        diffs += [abs(o["losses"][k] - p["losses"][k]) for k in set(o["losses"]) & set(p["losses"])]
    return max(diffs) if diffs else float("nan")


def key_figures(runs: dict[str, list[dict]], variants: list[str]) -> list[C.Figure]:
    """The run's figures for the table at the top of RESULTS.md."""
    def med(variant: str, key: str) -> float:
        return C.median(r[key] for r in runs[variant])

    figures = [C.Figure("step-time ratio ours/plain", round(C.ratio(med("ours", "step"), med("plain", "step")), 3),
                        STEP_TARGET),
               C.Figure("TTFS ratio ours/plain", round(C.ratio(med("ours", "ttfs"), med("plain", "ttfs")), 3), TTFS_TARGET),
               C.Figure("loss parity max |delta loss|", loss_parity(runs), 0.0, "==")]
    if "ours_no_telemetry" in variants:
        figures.append(C.Figure("step peak memory telemetry on/off",
                                round(C.ratio(med("ours", "step_peak_mb"), med("ours_no_telemetry", "step_peak_mb")), 4),
                                MEMORY_TARGET))
    worst = worst_recombination(runs)
    figures.append(C.Figure("telemetry recombination max rel err", float("nan") if worst is None else worst,
                            RECOMBINATION_TARGET))
    return figures


def recombination_line(runs: dict[str, list[dict]]) -> str:
    worst = worst_recombination(runs)
    if worst is None:
        return "telemetry recombination: no telemetry keys in ours' logging.jsonl -> MISS"
    return (f"telemetry recombination (per-dataset and per-token-type losses, token-weighted, vs the step loss): "
            f"max rel err {worst:.1e} target <= {RECOMBINATION_TARGET:.0e} -> {C.verdict(worst, RECOMBINATION_TARGET)}")


def summarize(runs: dict[str, list[dict]], variants: list[str], args: argparse.Namespace,
              bench_s: float, latency: dict[str, float] | None = None, loss_path: dict | None = None) -> list[str]:
    med = {v: {k: C.median(r[k] for r in runs[v]) for k in KEYS} for v in variants}
    best_step = {v: min(r["step"] for r in runs[v]) for v in variants}

    def paired(key: str, a: str = "ours", b: str = "plain") -> float:
        return C.median(x[key] / y[key] for x, y in zip(runs[a], runs[b]))

    step_ratio = C.ratio(med["ours"]["step"], med["plain"]["step"])
    ttfs_ratio = C.ratio(med["ours"]["ttfs"], med["plain"]["ttfs"])
    loss_diff = loss_parity(runs)

    print()
    threads = f"{args.threads} OMP thread(s)" if getattr(args, "threads", None) else "inherited threads"
    lines = [(f"config {args.config}, augmentation off, {args.steps} steps, {args.reps} repetition(s) per variant, "
              f"order alternating, {threads}; medians over repetitions (bench wall {bench_s:.0f}s)")]
    print(lines[0])
    lines += C.print_table(
        [[v, f"{med[v]['ttfs']:.2f}", f"{med[v]['setup']:.2f}", f"{med[v]['first_step']:.2f}",
          f"{med[v]['step']:.3f}", f"{med[v]['step_med']:.3f}", f"{best_step[v]:.3f}", f"{med[v]['cpu_ttfs']:.2f}",
          f"{med[v]['cpu_step']:.3f}", f"{med[v]['total']:.1f}", f"{med[v]['peak_rss_mb']:.0f}",
          f"{med[v]['step_peak_mb']:.0f}", f"{med[v]['step_extra_mb']:.0f}"] for v in variants],
        ["variant", "TTFS_s", "setup_s", "step1_s", "step_s", "stepmed_s", "best_step_s", "cpuTTFS_s", "cpu/step_s",
         "total_s", "peakRSS_MB", "stepPeak_MB", "stepOwn_MB"])
    phases = list(runs[variants[0]][0]["phases"])
    lines.append("time-to-first-step phases (medians, s):")
    print(lines[-1])
    lines += C.print_table(
        [[v, *(f"{C.median(r['phases'].get(p, float('nan')) for r in runs[v]):.2f}" for p in phases)]
         for v in variants], ["variant", *phases])
    tail = [
        ("TTFS: Popen -> end of optimizer step 1; setup: Popen -> train begin; step: mean of steps 3..N; "
         "stepmed: median step of 3..N; best: fastest repetition; cpu*: the child's CPU seconds; stepPeak: "
         "peak memory within a step (GPU: allocator peak; CPU: resident high-water mark, reset at step begin), "
         "median of steps 2..N; stepOwn: stepPeak minus the memory in use at step begin"),
        f"loss parity ours vs plain (same samples per step): max |delta loss| = {loss_diff:.2e}",
        recombination_line(runs),
        *memory_lines(med, variants),
        *paired_line(loss_path),
    ]
    if latency:
        ins, imp = latency["inspect"], latency["import swift.arguments"]
        tail.append(f"inspect latency (same run, fresh interpreters): inspect {ins:.3f}s vs import swift.arguments "
                    f"{imp:.3f}s (ratio {C.ratio(ins, imp):.2f})")
    if "ours_no_telemetry" in variants:
        tail.append(
            f"attribution: ours_no_telemetry/plain step {C.ratio(med['ours_no_telemetry']['step'], med['plain']['step']):.3f}"
            f" (CPU {C.ratio(med['ours_no_telemetry']['cpu_step'], med['plain']['cpu_step']):.3f}), "
            f"TTFS {C.ratio(med['ours_no_telemetry']['ttfs'], med['plain']['ttfs']):.3f}; "
            f"ours/ours_no_telemetry step {C.ratio(med['ours']['step'], med['ours_no_telemetry']['step']):.3f}")
    tail += [
        (f"step-time ratio ours/plain: {step_ratio:.3f} (paired {paired('step'):.3f}, "
        f"median-step {C.ratio(med['ours']['step_med'], med['plain']['step_med']):.3f}, best-of "
        f"{C.ratio(best_step['ours'], best_step['plain']):.3f}, CPU {C.ratio(med['ours']['cpu_step'], med['plain']['cpu_step']):.3f})"
        f" target <= {STEP_TARGET} -> {C.verdict(step_ratio, STEP_TARGET)}"),
        (f"TTFS ratio ours/plain:      {ttfs_ratio:.3f} (paired {paired('ttfs'):.3f}, "
        f"CPU {C.ratio(med['ours']['cpu_ttfs'], med['plain']['cpu_ttfs']):.3f}) "
        f"target <= {TTFS_TARGET} -> {C.verdict(ttfs_ratio, TTFS_TARGET)}"),
    ]
    for line in tail:
        print(line)
    return lines + tail


if __name__ == "__main__":
    raise SystemExit(main())
