#!/usr/bin/env python
"""Run every ``benchmarks/bench_*.py`` in turn, record each in RESULTS.md, and print a closing summary.

    python benchmarks/run_all.py [--quick] [--only NAME ...] [--budget-s 1500] [--results PATH|none]

Each script runs as its own process with its default (full) parameters, its output streamed live.
Scripts that append their own block to RESULTS.md (they accept ``--results``) are left to do so; for
the others the tail of their output is appended here with the same header (machine line, date,
commit) and the key figures of the ``summary: {json}`` line they print (``_common.print_summary``).
RESULTS.md's table of the latest figures is regenerated at the end (results_table.py). ``--quick`` passes ``--quick`` to the scripts that accept it and records nothing unless
``--results`` is given. The summary lists each script's exit status, wall time and last lines (every
benchmark prints its figures and ratios last), then the total against the ``make bench`` budget
(15 minutes on 2 cores). Exit status 1 when any script failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import results_table

BENCH_DIR = Path(__file__).resolve().parent
TAIL_LINES = 40
# Within `make bench`'s budget the learning benchmark runs a shorter curve; `make learn` runs its full budget.
BENCH_ARGS = {"bench_learning": ["--steps", "160", "--eval-every", "80"], "bench_grpo_warm": ["--steps", "16"]}


def discover(only: list[str] | None = None) -> list[Path]:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        wanted = {o.removeprefix("bench_").removesuffix(".py") for o in only}
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    return scripts


def accepts(script: Path, flag: str) -> bool:
    return f'"{flag}"' in script.read_text(encoding="utf-8")


def run_script(cmd: list[str]) -> tuple[int, list[str], float]:
    """Run ``cmd``, echoing its output live; returns (exit code, output lines, wall seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=C.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", bufsize=1)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line.rstrip("\n"))
    return proc.wait(), lines, time.perf_counter() - t0


def _figure_lines(lines: list[str], n: int = 3) -> list[str]:
    """The last ``n`` non-empty lines that are not progress bars or log records."""
    keep = [ln for ln in lines if ln.strip() and "\r" not in ln and not ln.startswith(("[INFO", "[WARNING"))]
    return keep[-n:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick where supported; record nothing")
    ap.add_argument("--only", nargs="*", help="run only these benchmarks (e.g. launcher_overhead packing)")
    ap.add_argument("--budget-s", type=float, default=1500.0, help="time budget for the whole run (report only)")
    ap.add_argument("--results", default=None, help="RESULTS.md to append to; 'none' to skip "
                    "(default: benchmarks/RESULTS.md, none with --quick)")
    args = ap.parse_args(argv)
    results = C.results_path_from_args(args.results, args.quick)
    scripts = discover(args.only)
    if not scripts:
        print("no benchmarks matched", file=sys.stderr)
        return 2

    print(f"machine: {C.machine_line()}\ncommit: {C.git_commit()}\n", flush=True)
    summary = []
    t_all = time.perf_counter()
    for script in scripts:
        cmd = [sys.executable, str(script)]
        if args.quick and accepts(script, "--quick"):
            cmd.append("--quick")
        elif not args.quick:
            cmd += BENCH_ARGS.get(script.stem, [])
        records_itself = accepts(script, "--results")
        if records_itself:
            cmd += ["--results", "none" if results is None else str(results)]
        rel = script.relative_to(C.REPO_ROOT)
        print(f"== {rel}", flush=True)
        code, lines, wall = run_script(cmd)
        if code == 0 and results is not None and not records_itself:
            tail = [ln for ln in lines if "\r" not in ln][-TAIL_LINES:]
            C.append_results(f"{script.stem} (output tail)", tail, path=results,
                             command=f"python {rel}", summary=C.summary_from_output(lines))
        summary.append((rel, code, wall, _figure_lines(lines)))
    total = time.perf_counter() - t_all
    if results is not None:
        results_table.rewrite(results)  # the table at the top of RESULTS.md, even when no run was recorded

    print("\n===== benchmark summary =====")
    for rel, code, wall, figures in summary:
        print(f"{rel}: {'ok' if code == 0 else f'FAILED (exit {code})'}, {wall:.0f}s")
        for line in figures:
            print(f"    {line}")
    print(f"total wall {total:.0f}s vs budget {args.budget_s:.0f}s -> "
          f"{C.verdict(total, args.budget_s)}" + ("" if results is None else f"; results appended to {results}"))
    return 0 if all(code == 0 for _, code, _, _ in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
