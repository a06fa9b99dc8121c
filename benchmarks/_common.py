"""Shared helpers for the benchmarks: timing statistics, RSS, the machine line, RESULTS.md blocks, and
the pre-rendered ms-swift JSONL that the "plain ms-swift" baselines train on.

Imports nothing heavy at module level (the launcher benchmark re-runs its own file as the child that
starts a training job; that child must not pay for imports the measured command would not make).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import results_table

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_PATH = REPO_ROOT / "benchmarks" / "RESULTS.md"
DEFAULT_CONFIG = "configs/smoke/sft_dense_tiny.yaml"
SUMMARY_PREFIX = "summary: "


def ensure_repo_on_path() -> None:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


# ----------------------------------------------------------------------------- statistics
def median(values: Iterable[float]) -> float:
    vals = [float(v) for v in values]
    return statistics.median(vals) if vals else float("nan")


def mean(values: Iterable[float]) -> float:
    vals = [float(v) for v in values]
    return statistics.fmean(vals) if vals else float("nan")


def ratio(ours: float, theirs: float) -> float:
    return float("nan") if not theirs else ours / theirs


def verdict(value: float, target: float, higher_is_better: bool = False) -> str:
    """``"ok"`` / ``"MISS"`` against a target (``value <= target`` unless ``higher_is_better``)."""
    if math.isnan(value):
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "ok" if ok else "MISS"


def alternating(names: Sequence[str], rep: int) -> list[str]:
    """Run order for repetition ``rep``: as given on even repetitions, reversed on odd ones."""
    return list(names) if rep % 2 == 0 else list(reversed(names))


class Timer:
    """``with Timer() as t: ...`` -> ``t.wall`` and ``t.cpu`` (this process's CPU seconds) elapsed."""

    def __enter__(self) -> Timer:  # noqa: PYI034
        self._w0, self._c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w0
        self.cpu = time.process_time() - self._c0


# ----------------------------------------------------------------------------- memory
def rss_now_mb() -> float:
    """Current resident set size of this process (MB), from /proc when available."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MB); ru_maxrss is in KiB on Linux."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- machine and commit
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine_line() -> str:
    try:
        load = "load avg {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load avg n/a"
    return (f"{_cpu_model()}, {usable_cores()} cores usable ({os.cpu_count()} online), "
            f"{_ram_gib():.1f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, {load}")


def git_commit() -> str:
    """Short HEAD commit, with ``+dirty`` when the working tree has uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=False, timeout=30).stdout.strip()
    try:
        sha = git("rev-parse", "--short", "HEAD") or "unknown"
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def package_versions(names: Sequence[str] = ("torch", "transformers", "ms-swift")) -> str:
    from importlib import metadata

    out = []
    for name in names:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} n/a")
    return ", ".join(out)


# ----------------------------------------------------------------------------- RESULTS.md
def command_line(argv: Sequence[str] | None = None) -> str:
    argv = sys.argv if argv is None else argv
    script = Path(argv[0])
    try:
        script = script.resolve().relative_to(REPO_ROOT)
    except ValueError:
        pass
    return " ".join(["python", str(script), *argv[1:]])


_OPS = {"<=": float.__le__, "<": float.__lt__, ">=": float.__ge__, ">": float.__gt__, "==": float.__eq__}


@dataclass(frozen=True)
class Figure:
    """One key figure of a run for the table at the top of RESULTS.md: ``value`` against ``op target``
    (``Figure("step-time ratio ours/plain", 1.01, 1.03)`` means target <= 1.03); no target: ``target=None``."""

    name: str
    value: float | int | str
    target: float | None = None
    op: str = "<="
    unit: str = ""

    def met(self) -> bool | None:
        if self.target is None or isinstance(self.value, str) or math.isnan(float(self.value)):
            return None
        return bool(_OPS[self.op](float(self.value), float(self.target)))

    def as_json(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, float):
            value = float(f"{value:.6g}") if math.isfinite(value) else str(value)  # nan / inf are not JSON
        target = None if self.target is None else f"{self.op} {self.target:g}{' ' + self.unit if self.unit else ''}"
        return {"name": self.name, "value": value, "unit": self.unit, "target": target, "met": self.met()}


def summary_json(figures: Sequence[Figure], benchmark: str) -> str:
    """The one-line JSON of a run's key figures (``- summary:`` in RESULTS.md, ``summary:`` on stdout)."""
    return json.dumps({"benchmark": benchmark, "figures": [f.as_json() for f in figures]}, sort_keys=True)


def print_summary(figures: Sequence[Figure], benchmark: str | None = None) -> str:
    """Print ``summary: {json}``: how a benchmark that does not record itself hands run_all.py its figures."""
    line = f"{SUMMARY_PREFIX}{summary_json(figures, benchmark or Path(sys.argv[0]).stem)}"
    print(line, flush=True)
    return line


def summary_from_output(lines: Sequence[str]) -> str | None:
    """The JSON of the last ``summary: {json}`` line a benchmark printed (None when it printed none)."""
    for line in reversed(lines):
        if line.startswith(SUMMARY_PREFIX):
            return line[len(SUMMARY_PREFIX):].strip()
    return None


def append_results(title: str, lines: Sequence[str], *, command: str | None = None,
                   path: Path | str | None = RESULTS_PATH, summary: Sequence[Figure] | str | None = None,
                   benchmark: str | None = None) -> Path | None:
    """Record one run in ``path``: a block (title, date, machine, commit, command, ``summary`` figures,
    the output ``lines``), then the whole file regenerated by results_table.py (table at the top, runs
    newest first). ``summary``: the run's key figures (or their JSON, as ``summary_from_output`` returns it).

    ``path=None`` records nothing (quick runs and tests)."""
    if path is None:
        return None
    path = Path(path)
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    command = command or command_line()
    if summary is not None and not isinstance(summary, str):
        summary = summary_json(summary, benchmark or Path(sys.argv[0]).stem)
    block = [
        f"## {title}",
        "",
        f"- date: {now}",
        f"- machine: {machine_line()}",
        f"- commit: {git_commit()}",
        f"- versions: {package_versions()}",
        f"- command: `{command}`",
        *([f"- summary: {summary}"] if summary else []),
        "",
        "```",
        *lines,
        "```",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write("\n" + "\n".join(block) + "\n")
    results_table.rewrite(path)
    return path


def results_path_from_args(results: str | None, quick: bool) -> Path | None:
    """``--results``: a path, ``none``, or unset (RESULTS.md for full runs, nothing for --quick)."""
    if results is None:
        return None if quick else RESULTS_PATH
    return None if results.lower() == "none" else Path(results)


# ----------------------------------------------------------------------------- plain ms-swift inputs
def load_config(config: str, overrides: Sequence[str] = ()):
    """Our resolved preset (the torch-free config package)."""
    ensure_repo_on_path()
    from src.config import load_training_config

    return load_training_config(config, overrides=list(overrides))


def prerender_jsonl(cfg: Any, out_dir: Path | str, *, epoch: int = 0) -> dict[str, Any]:
    """Write the preset's training (and validation) records as ms-swift ``messages`` rows.

    Rows are rendered by our own ``render_target`` / ``build_conversation`` with the preset's sample
    policy, so the token content equals what our dataset feeds the template; image paths are made
    absolute. Training rows are written in the order of our fusion schedule for ``epoch`` (row ``i`` is
    our dataset's position ``i``), so a trainer that samples indices identically sees the same samples
    at every step. Augmentation must be off (``custom.augmentation.enabled=false``): a pre-rendered
    file cannot carry per-step random augmentation.

    Returns ``{"train": path, "val": path or None, "n_train": int, "n_val": int}``.
    """
    ensure_repo_on_path()
    from src.config import load_fusion_config
    from src.datasets.builder import sample_policy
    from src.datasets.conversation import build_conversation
    from src.datasets.fusion_dataset import FusionDataset, FusionMember
    from src.datasets.jsonl_index import JsonlIndex
    from src.datasets.render import render_target

    fusion = load_fusion_config(cfg.fusion_config_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def renderer(entry, train: bool):
        policy = sample_policy(cfg, entry, train=train)
        if policy.augmentation is not None:
            raise ValueError("pre-rendered baselines need augmentation off: "
                             "pass custom.augmentation.enabled=false")

        def render(record, ctx=None):
            target = render_target(record, mode=policy.mode, coord_format=policy.coord_format,
                                   ordering=policy.ordering, prefix=policy.prefix)
            return build_conversation([str(p.resolve()) for p in record.image_paths()], policy.user_prompt, target)
        return render

    def member(entry):
        return FusionMember(entry.name, JsonlIndex(entry.train_path), entry.ratio, transform=renderer(entry, True))

    train = FusionDataset([member(t) for t in fusion.targets], [member(s) for s in fusion.sources],
                          seed=int(cfg.training.get("seed", 0)))
    train.set_epoch(epoch)
    train_path = out_dir / "train_messages.jsonl"
    with train_path.open("w", encoding="utf-8") as f:
        for i in range(len(train)):
            row = dict(train[i])
            row.pop("dataset_name", None)
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    val_path, n_val = None, 0
    vals = [t for t in fusion.targets if t.val_path is not None]
    if vals:
        val_path = out_dir / "val_messages.jsonl"
        with val_path.open("w", encoding="utf-8") as f:
            for t in vals:
                render = renderer(t, False)
                for record in JsonlIndex(t.val_path):
                    f.write(json.dumps(render(record), ensure_ascii=False) + "\n")
                    n_val += 1
    return {"train": str(train_path), "val": None if val_path is None else str(val_path),
            "n_train": len(train), "n_val": n_val}


def plain_swift_kwargs(cfg: Any, rendered: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``build_swift_kwargs(cfg)`` (the exact arguments our run gives ms-swift) with the datasets
    replaced by the pre-rendered files. ``dataset_shuffle=False`` keeps the file order (= our epoch-0
    schedule), so both trainers' samplers draw the same samples per step; the trainer's dataloader
    still shuffles with the same seed on both sides."""
    ensure_repo_on_path()
    from src.config.swift_args import build_swift_kwargs

    kwargs = build_swift_kwargs(cfg)
    kwargs["dataset"] = [rendered["train"]]
    kwargs["val_dataset"] = [rendered["val"]] if rendered.get("val") else []
    kwargs["dataset_shuffle"] = False
    kwargs.update(changes)
    return kwargs


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> list[str]:
    """Format a simple fixed-width table; returns the lines (also printed)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths))) for r in cells]
    for line in lines:
        print(line)
    return lines
