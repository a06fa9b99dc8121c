#!/usr/bin/env python
"""Benchmark: wall time of the config tools against importing ms-swift, in the same run.

    python benchmarks/bench_config_latency.py [--runs 7 | --quick] [--cpus 2] [--check]

Each command runs as a fresh subprocess (interpreter start-up included, output discarded), once
untimed to warm the page cache and .pyc files, then `--runs` times, the commands taking turns;
the median is reported:

* inspect:  scripts/config_tools/inspect_config.py inspect --config configs/train/sft/dense_1024.yaml
* validate: scripts/config_tools/inspect_config.py validate   (every YAML file under configs/)
* swift:    python -c "import swift"                          (the first step of any command
                                                                that uses ms-swift; ms-swift 4.6
                                                                imports lazily, so this loads no
                                                                torch yet: a lower bound)

Children are pinned to the first `--cpus` CPUs (default 2, the target machine) where the OS
allows it; the load average is printed because other processes on the CPUs slow every figure
(compare the ratio, measured in the same run, rather than absolute times). Target: inspect under
0.5 s on an otherwise idle 2-CPU machine. `--check` exits 1 when the target is missed. The ratio
inspect / import swift is printed last.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import _common as C

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOL = REPO_ROOT / "scripts/config_tools/inspect_config.py"
PRESET = "configs/train/sft/dense_1024.yaml"
TARGET_S = 0.5


def _pin(cpus: int | None) -> Callable[[], None] | None:
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None
    available = sorted(os.sched_getaffinity(0))
    chosen = set(available[:cpus])

    def pin() -> None:
        os.sched_setaffinity(0, chosen)

    return pin


def time_commands(
    commands: dict[str, list[str]], runs: int, pin: Callable[[], None] | None
) -> dict[str, tuple[list[float], int]]:
    """Wall seconds of each timed run and the last exit code, per command. The commands take
    turns (one run of each per round, after one untimed warm-up round), so a change in machine
    load during the benchmark hits all of them alike."""
    results: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in commands}
    for round_ in range(runs + 1):
        for name, cmd in commands.items():
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  preexec_fn=pin, check=False)
            elapsed = time.perf_counter() - start
            times, _ = results[name]
            if round_:
                times.append(elapsed)
            results[name] = (times, proc.returncode)
    return results


def _fmt(times: list[float]) -> str:
    return (f"median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f}, "
            f"n={len(times)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    parser.add_argument("--quick", action="store_true", help="3 timed runs per command")
    parser.add_argument("--cpus", type=int, default=2, help="pin children to this many CPUs (0: no pinning)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when inspect misses {TARGET_S} s")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 3

    pin = _pin(args.cpus)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    used = min(args.cpus, cpus or 1) if pin else cpus
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"python {sys.version.split()[0]}, {used} of {cpus} CPUs{load}, {args.runs} timed runs each "
          "(fresh subprocess, after one warm-up)")

    py = sys.executable
    commands = {
        "inspect": [py, str(TOOL), "inspect", "--config", PRESET],
        "validate": [py, str(TOOL), "validate"],
        "import swift": [py, "-c", "import swift"],
    }
    medians: dict[str, float | None] = {}
    for name, (times, code) in time_commands(commands, args.runs, pin).items():
        if code != 0:
            print(f"{name:<13} exit {code}: not measured")
            medians[name] = None
            continue
        medians[name] = statistics.median(times)
        print(f"{name:<13} {_fmt(times)}")

    inspect_s, swift_s = medians["inspect"], medians["import swift"]
    met = inspect_s is not None and inspect_s < TARGET_S
    if inspect_s is not None:
        print(f"target: inspect < {TARGET_S} s on 2 CPUs: {'met' if met else 'MISSED'}")
    if inspect_s is not None and swift_s:
        print(f"ratio inspect / import swift: {inspect_s / swift_s:.2f} "
              f"({inspect_s:.3f} s vs {swift_s:.3f} s)")
    else:
        print("ratio inspect / import swift: n/a (a command failed)")
    C.print_summary([C.Figure("inspect median", float("nan") if inspect_s is None else round(inspect_s, 3), TARGET_S,
                              "<", unit="s")])
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
