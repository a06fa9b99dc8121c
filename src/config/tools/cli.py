"""Command line of the config tools: `python -m src.config.tools` (what scripts/train.sh runs).

    inspect  --config P [--format json|yaml] [--explain] [--payload-only] [key.path=value ...]
    diff     --left A --right B [--profile NAME] [--format text|json]   (profiles come from an extension)
    validate [PATH ...] [--deep]   (default: every YAML file under configs/)
    plan     --config P [--json] [--worst N] [key.path=value ...]   (runs python -m src.datasets.plan)

A package above config adds commands and diff profiles through an `Extension`: `src.seed_migration`
adds `migrate`, `parity-report` and the `parity` profile of `diff` (the seed 001 allowlist, migration-aware
for a seed-format left side); `scripts/config_tools/inspect_config.py` runs both. Here those commands
and `diff --profile parity` answer with where they moved.

Exit codes: 0 ok / parity passed; 1 invalid config or forbidden differences; 2 usage error or a
config that cannot be loaded (missing file, YAML syntax error, bad extends, cycle). User mistakes
print a message, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .commands import Profile, UsageError, run_diff, run_inspect, run_validate
from .loading import LoadError
from .output import Printer
from .plan_command import run_plan

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
MOVED = ("migrate", "parity-report")
MOVED_PROFILES = ("parity",)  # `diff --profile parity`: src.seed_migration's


@dataclass(frozen=True)
class Extension:
    """Commands a package above config adds to this command line."""

    add_parsers: Callable[[Any, argparse.ArgumentParser], None]  # (subparsers, the common parent parser)
    dispatch: Callable[[argparse.Namespace, Printer, Printer], int | None]  # None: not its command
    epilog: str = ""
    description: str = ""
    usage_errors: tuple[type[Exception], ...] = ()
    profiles: Mapping[str, Profile] = field(default_factory=dict)  # `diff --profile NAME` -> its classifier


EPILOG = """\
exit codes: 0 ok / parity passed; 1 invalid config or forbidden differences;
            2 usage error or a config that cannot be loaded.
examples:
  inspect --config configs/train/sft/dense_1024.yaml
  inspect --config configs/train/sft/dense_1024.yaml --explain training.learning_rate=1e-4
  diff --left configs/train/grpo/dense_2048.yaml --right configs/train/grpo/dense_2048_lowaug.yaml
  validate                      (every YAML file under configs/)
  validate --deep               (also build each runnable preset's ms-swift arguments; imports ms-swift)
  validate P --set k=v          (with the overrides a launch would add; scripts/train.sh runs this first)
  plan --config configs/smoke/sft_dense_tiny.yaml   (token counts of every record vs the mode's limits;
                                the exit code is the plan's: 1 when records are over the budget)
"""


def build_parser(prog: str | None = None, extension: Extension | None = None) -> argparse.ArgumentParser:
    profiles = sorted({*MOVED_PROFILES, *(extension.profiles if extension else ())})
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour and tables: auto (when stdout is a terminal), always, never")
    parser = argparse.ArgumentParser(
        prog=prog, description="Inspect, diff and validate resolved training configs."
        + (extension.description if extension else ""),
        epilog=EPILOG + (extension.epilog if extension else ""), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = "inspect,diff,validate,plan" + (",migrate,parity-report" if extension else "")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + names + "}")

    p = sub.add_parser("inspect", parents=[common], help="print the extends chain and the resolved config",
                       description="Print the extends chain (low -> high precedence), then the resolved "
                       "config as key-sorted JSON (default) or YAML.")
    p.add_argument("--config", required=True, help="config file (relative to cwd, else to the repo root)")
    p.add_argument("--format", choices=("json", "yaml"), default=None,
                   help="payload format (default json; with --explain default is one line per key)")
    p.add_argument("--explain", action="store_true",
                   help="every leaf key with the file:line or override that set it and what it overrode")
    p.add_argument("--payload-only", action="store_true", help="omit the '#' header lines (for piping)")
    p.add_argument("overrides", nargs="*", metavar="key.path=value", help="command-line overrides")

    d = sub.add_parser("diff", parents=[common], help="diff two resolved configs (and their fusion configs)",
                       description="Deterministic diff of two resolved configs and of the fusion "
                       "configs they point at. A profile (parity: the seed 001 allowlist, in "
                       "scripts/config_tools/inspect_config.py) splits allowed from forbidden "
                       "differences and exits 1 on any forbidden one.")
    d.add_argument("--left", required=True, help="old / reference config")
    d.add_argument("--right", required=True, help="new config")
    d.add_argument("--profile", choices=profiles, default=None, help="classify differences as allowed or forbidden")
    d.add_argument("--format", choices=("text", "json"), default="text")

    v = sub.add_parser("validate", parents=[common], help="resolve and validate configs",
                       description="Resolve and validate each config (a folder means every YAML "
                       "file below it); fusion configs use the fusion loader.")
    v.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: configs/)")
    v.add_argument("--deep", action="store_true",
                   help="also build the ms-swift argument objects of each runnable preset, as a launch would "
                   "(imports ms-swift; model directories missing here get a stand-in config.json)")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to training configs, as on the python -m src.sft command line (repeatable)")

    t = sub.add_parser("plan", parents=[common], help="token-budget plan of a preset's records (python -m src.datasets.plan)",
                       description="Exact token counts of every record of the preset's fusion entries against the "
                       "mode's limits (loads the tokenizer in a child process; exit 1 when records are over).")
    t.add_argument("--config", required=True, help="training preset")
    t.add_argument("--json", action="store_true", help="one JSON object")
    t.add_argument("--worst", type=int, default=10, metavar="N", help="longest records listed (default 10)")
    t.add_argument("overrides", nargs="*", metavar="key.path=value", help="command-line overrides")
    if extension is not None:
        extension.add_parsers(sub, common)
    return parser


def _dispatch(args: argparse.Namespace, out: Printer, err: Printer, profiles: Mapping[str, Profile]) -> int:
    if args.command == "inspect":
        return run_inspect(args.config, args.overrides, args.format, args.explain, args.payload_only, out, err)
    if args.command == "plan":
        return run_plan(args.config, args.overrides, args.json, args.worst)
    if args.command == "diff":
        classify = profiles[args.profile] if args.profile else None
        return run_diff(args.left, args.right, args.profile, classify, args.format, out, err)
    return run_validate(args.paths, out, args.deep, args.overrides)


def moved_message(command: str, prog: str) -> str:
    """Where `migrate`, `parity-report` or `diff --profile parity` went (src.seed_migration)."""
    return (f"{prog}: `{command}` moved out of the config package with the seed migration (the seed system's "
            "configs -> ours, and the seed 001 parity allowlist): run "
            f"`python scripts/config_tools/inspect_config.py {command} ...` (same arguments; it has every command "
            f"of this tool too) or `python -m src.seed_migration {command} ...`.")


def main(argv: Sequence[str] | None = None, prog: str | None = None, extension: Extension | None = None) -> int:
    parser = build_parser(prog, extension)
    argv = sys.argv[1:] if argv is None else list(argv)
    if extension is None and argv and argv[0] in MOVED:
        print(moved_message(argv[0], parser.prog), file=sys.stderr)
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    profiles = extension.profiles if extension else {}
    if args.command == "diff" and args.profile is not None and args.profile not in profiles:
        print(moved_message(f"diff --profile {args.profile}", parser.prog)
              + " Without --profile, `diff` here lists every difference.", file=sys.stderr)
        return EXIT_USAGE
    out = Printer(sys.stdout, args.color)
    err = Printer(sys.stderr, args.color)
    usage_errors = (UsageError, *(extension.usage_errors if extension else ()))
    try:
        handled = extension.dispatch(args, out, err) if extension is not None else None
        return handled if handled is not None else _dispatch(args, out, err, profiles)
    except LoadError as exc:
        sys.stdout.flush()
        err.line("\n".join([f"error: cannot load {exc.subject}"] + [f"- {p.render()}" for p in exc.problems]),
                 "bad")
        return EXIT_USAGE
    except ConfigError as exc:  # an extension's command: a file it reads cannot be loaded
        sys.stdout.flush()
        err.line(f"error: {exc}", "bad")
        return EXIT_USAGE
    except usage_errors as exc:
        sys.stdout.flush()
        err.line(f"{parser.prog}: error: {exc}", "bad")
        return EXIT_USAGE
    except BrokenPipeError:  # `inspect ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
