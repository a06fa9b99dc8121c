#!/usr/bin/env python
"""Mutation testing of the objective-critical modules with mutmut 3 (`make mutation`, not in CI).

mutmut 3 reads its configuration only from ``[tool.mutmut]`` in pyproject.toml or ``[mutmut]`` in
setup.cfg of the working directory. The project keeps neither: this runner copies ``src/``, ``tests/``
and ``pyproject.toml`` into a scratch directory per module, writes a ``setup.cfg`` there that mutates
that one module against its focused tests, runs ``mutmut run``, and prints killed/total per module
(``killed`` counts mutants the tests caught, timeouts included; ``total`` excludes mutants mutmut
could not evaluate, which are listed separately).

    python scripts/run_mutation.py                      # every module
    python scripts/run_mutation.py geometry coordjson   # a subset
    python scripts/run_mutation.py --max-children 2 --workdir /tmp/vlm-mutation packing_guard

Exit status 1 when a module scores below ``--min-score`` (default 0.85).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    source: str
    tests: tuple[str, ...]
    artifacts: tuple[str, ...] = ()  # artifacts/<name> the tests need (symlinked, then copied by mutmut)
    folders: tuple[str, ...] = ()  # repository folders the tests read (copied, e.g. configs)


TARGETS: dict[str, Target] = {
    "geometry": Target("src/datasets/geometry.py", ("tests/datasets/test_geometry.py",
                                                    "tests/audit/test_invariants_geometry.py")),
    "coordjson": Target("src/datasets/coordjson.py", ("tests/datasets/test_coordjson.py",
                                                      "tests/audit/test_coordjson_diagnostics.py")),
    "coordjson_syntax": Target("src/datasets/_coordjson_syntax.py", ("tests/datasets/test_coordjson.py",
                                                                     "tests/audit/test_coordjson_diagnostics.py")),
    "crop_geometry": Target("src/datasets/crop_geometry.py", ("tests/datasets/test_crop_geometry.py",)),
    "aug_curriculum": Target("src/datasets/aug_curriculum.py", ("tests/datasets/test_aug_curriculum.py",)),
    "packing_guard": Target("src/trainers/packing_guard.py", ("tests/trainers/test_packing_guard.py",),
                            artifacts=("tiny-qwen3-vl",), folders=("configs",)),
    "targets": Target("src/stage2/targets.py", ("tests/stage2/test_targets.py",
                                                "tests/audit/test_invariants_stage2.py"),
                      artifacts=("tiny-qwen3-vl-coord",)),
    "target_tokens": Target("src/stage2/target_tokens.py", ("tests/stage2/test_target_tokens.py",),
                            artifacts=("tiny-qwen3-vl-coord",)),
    "matching": Target("src/stage2/matching.py", ("tests/stage2/test_matching.py",
                                                  "tests/audit/test_matching_properties.py",
                                                  "tests/audit/test_invariants_stage2.py"),
                      artifacts=("tiny-qwen3-vl-coord",)),
}


def _setup_cfg(target: Target, timeout_multiplier: float = 5.0, timeout_constant: float = 10.0) -> str:
    tests = "\n    ".join(t for t in target.tests if (REPO_ROOT / t).is_file())
    lines = [
        "[mutmut]",
        "source_paths = src",
        f"only_mutate = {target.source}",
        f"pytest_add_cli_args_test_selection =\n    {tests}",
        "pytest_add_cli_args =\n    -q\n    -p\n    no:cacheprovider",
        "use_git_change_detection = false",
        f"timeout_multiplier = {timeout_multiplier}",  # mutants that loop forever (bin packing) die sooner
        # seconds added to every mutant's budget: each mutant run rebuilds the test fixtures (tokenizers,
        # templates), which a per-test duration from the clean run does not include
        f"timeout_constant = {timeout_constant}",
    ]
    also = (["artifacts"] if target.artifacts else []) + list(target.folders)
    if also:
        lines.append("also_copy =\n    " + "\n    ".join(also))
    return "\n".join(lines) + "\n"


def _prepare(workdir: Path, target: Target, timeout_multiplier: float) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "src", workdir / "src", ignore=ignore)
    shutil.copytree(REPO_ROOT / "tests", workdir / "tests", ignore=ignore)
    shutil.copy2(REPO_ROOT / "pyproject.toml", workdir / "pyproject.toml")
    (workdir / "setup.cfg").write_text(_setup_cfg(target, timeout_multiplier), encoding="utf-8")
    for folder in target.folders:
        shutil.copytree(REPO_ROOT / folder, workdir / folder, ignore=ignore)
    for name in target.artifacts:
        (workdir / "artifacts").mkdir(exist_ok=True)
        (workdir / "artifacts" / name).symlink_to(REPO_ROOT / "artifacts" / name)


# mutmut 3 assumes a "src layout" (``src/`` is a folder, not a package): it strips a leading ``src.``
# from module names and asserts that no runtime module name starts with ``src.``. Our top-level package
# IS ``src``, so the shim keeps the prefix (mutant names then match ``func.__module__`` at run time),
# drops that one assertion, and keeps ``mutants/src`` off sys.path (where ``src/datasets`` would
# shadow Hugging Face ``datasets``); mutant workers are forked from this process, so they inherit all.
_SHIM = """
import sys
import mutmut.stats as _stats
import mutmut.utils.format_utils as _fmt
import mutmut.mutation.trampoline as _tr
_strip = _fmt.strip_prefix
_fmt.strip_prefix = lambda s, *, prefix, strict=False: s if prefix == "src." else _strip(s, prefix=prefix, strict=strict)
def _hit(name, caller=None):
    _stats.state()._stats.add(name)
    if caller is not None and _stats.config().track_dependencies:
        _stats.state().function_dependencies[name].add(caller)
_stats.record_trampoline_hit = _hit
_tr.record_trampoline_hit = _stats.record_trampoline_hit
import os
import mutmut.__main__ as _main
_setup = _main.setup_source_paths
def _paths():
    # mutmut also puts mutants/src on sys.path (for "src layouts"); here that would shadow the `datasets`
    # package ms-swift imports with our src/datasets. Only mutants/ itself belongs there.
    _setup()
    sys.path[:] = [p for p in sys.path if os.path.normpath(p) != os.path.abspath(os.path.join("mutants", "src"))]
_main.setup_source_paths = _paths
sys.argv[0] = "mutmut"
_main.cli()
"""


def _mutmut() -> list[str]:
    # -P: no cwd on sys.path, so `src` always resolves to mutants/src (PYTHONPATH), never the pristine copy
    return [sys.executable, "-P", "-c", _SHIM]


def _score(workdir: Path) -> dict[str, int]:
    subprocess.run([*_mutmut(), "export-cicd-stats"], cwd=workdir, check=True, capture_output=True)
    stats = json.loads((workdir / "mutants" / "mutmut-cicd-stats.json").read_text(encoding="utf-8"))
    return {k: int(v) for k, v in stats.items() if isinstance(v, (int, float))}


def run_one(name: str, target: Target, workdir: Path, max_children: int | None,
            timeout_multiplier: float = 5.0) -> dict[str, int]:
    _prepare(workdir, target, timeout_multiplier)
    cmd = [*_mutmut(), "run"] + ([f"--max-children={max_children}"] if max_children else [])
    # No PYTHONPATH: mutmut puts mutants/ on sys.path itself once the folder exists (a path entry that
    # did not exist at start-up stays cached as "nothing here" and the pristine package would win).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    # mutant workers are forked from a process that already ran torch; an OpenMP thread pool does not
    # survive a fork (the child can hang until its time budget ends, a false "timeout" kill)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print(f"== {name}: {target.source} against {' '.join(target.tests)}", flush=True)
    subprocess.run(cmd, cwd=workdir, env=env, check=False)
    return _score(workdir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"any of: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "vlm-mutation")
    parser.add_argument("--max-children", type=int, default=None)
    parser.add_argument("--min-score", type=float, default=0.85)
    parser.add_argument("--timeout-multiplier", type=float, default=5.0,
                        help="a mutant times out (counted as killed) after this many times the clean duration")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; choose from {', '.join(TARGETS)}")
    failed = []
    report = {}
    for name in args.modules or list(TARGETS):
        stats = run_one(name, TARGETS[name], args.workdir / name, args.max_children, args.timeout_multiplier)
        killed = stats.get("killed", 0) + stats.get("timeout", 0)
        total = killed + stats.get("survived", 0) + stats.get("no_tests", 0)
        score = killed / total if total else 0.0  # nothing evaluated: the clean test run failed
        report[name] = {"killed": killed, "total": total, "score": round(score, 4), "raw": stats}
        print(f"== {name}: killed {killed}/{total} ({score:.1%}; {stats.get('timeout', 0)} of them by timeout); "
              f"raw {stats}", flush=True)
        if score < args.min_score:
            failed.append(name)
    print(json.dumps(report, indent=2, sort_keys=True))
    if failed:
        print(f"below {args.min_score:.0%}: {', '.join(failed)} (see `mutmut results` in {args.workdir}/<module>)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
