"""Command line of `scripts/config_tools/inspect_config.py` (also `python -m src.config.tools`).

    inspect  --config P [--format json|yaml] [--explain] [--payload-only] [key.path=value ...]
    diff     --left A --right B [--profile parity] [--format text|json]
    validate [PATH ...] [--deep]   (default: every YAML file under configs/)
    migrate  OLD.yaml [--out NEW.yaml] | --tree OLD_ROOT --out NEW_ROOT [--report FILE]
    parity-report --old OLD_ROOT --new NEW_ROOT [--out FILE]
    plan     --config P [--json] [--worst N] [key.path=value ...]   (runs python -m src.datasets.plan)

Exit codes: 0 ok / parity passed; 1 invalid config or forbidden differences; 2 usage error or a
config that cannot be loaded (missing file, YAML syntax error, bad extends, cycle). User mistakes
print a message, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..errors import ConfigError
from .commands import UsageError, run_diff, run_inspect, run_validate
from .commands_migrate import MigrateUsageError, run_migrate, run_migration_diff, run_parity_report
from .loading import LoadError
from .output import Printer
from .plan_command import run_plan

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

EPILOG = """\
exit codes: 0 ok / parity passed; 1 invalid config or forbidden differences;
            2 usage error or a config that cannot be loaded.
examples:
  inspect --config configs/train/sft/dense_1024.yaml
  inspect --config configs/train/sft/dense_1024.yaml --explain training.learning_rate=1e-4
  diff --left configs/train/grpo/dense_2048.yaml --right configs/train/grpo/dense_2048_lowaug.yaml
  diff --left old.yaml --right new.yaml --profile parity
  validate                      (every YAML file under configs/)
  migrate --tree ../seed/configs --out configs/migrated     (seed-format tree -> ours, with a report)
  parity-report --old ../seed/configs --new configs/migrated
  validate --deep               (also build each runnable preset's ms-swift arguments; imports ms-swift)
  validate P --set k=v          (with the overrides a launch would add; scripts/train.sh runs this first)
  plan --config configs/smoke/sft_dense_tiny.yaml   (token counts of every record vs the mode's limits;
                                the exit code is the plan's: 1 when records are over the budget)
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour and tables: auto (when stdout is a terminal), always, never")
    parser = argparse.ArgumentParser(
        prog=prog, description="Inspect, diff and validate resolved training configs.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{inspect,diff,validate,migrate,parity-report,plan}")

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
                       "configs they point at. --profile parity splits allowed from forbidden "
                       "differences and exits 1 on any forbidden one.")
    d.add_argument("--left", required=True, help="old / reference config")
    d.add_argument("--right", required=True, help="new config")
    d.add_argument("--profile", choices=("parity",), default=None, help="classify differences (seed 001)")
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

    m = sub.add_parser("migrate", parents=[common], help="translate seed-format configs into ours, with a report",
                       description="Translate the seed system's configs (keys, sections, value forms) into ours. "
                       "Comments are kept; every translation and every setting without an equivalent is "
                       "written to a report (exit 1 when there are such settings).")
    m.add_argument("source", nargs="?", metavar="OLD.yaml", help="one file (YAML to stdout unless --out)")
    m.add_argument("--tree", metavar="OLD_ROOT", help="a whole config tree (training and fusion configs)")
    m.add_argument("--out", metavar="NEW", help="output file, or output folder with --tree")
    m.add_argument("--report", metavar="FILE", help="report path (default: NEW_ROOT/MIGRATION_REPORT.md, "
                   "NEW.yaml.migration.md, or stderr)")

    r = sub.add_parser("parity-report", parents=[common], help="seed 001 parity checklist of a migrated tree",
                       description="For every runnable preset (train/, smoke/) of OLD_ROOT: old path -> new path "
                       "-> parity status, forbidden keys and settings without an equivalent.")
    r.add_argument("--old", required=True, metavar="OLD_ROOT")
    r.add_argument("--new", required=True, metavar="NEW_ROOT")
    r.add_argument("--out", metavar="FILE", help="write the Markdown table here (default: stdout)")

    t = sub.add_parser("plan", parents=[common], help="token-budget plan of a preset's records (python -m src.datasets.plan)",
                       description="Exact token counts of every record of the preset's fusion entries against the "
                       "mode's limits (loads the tokenizer in a child process; exit 1 when records are over).")
    t.add_argument("--config", required=True, help="training preset")
    t.add_argument("--json", action="store_true", help="one JSON object")
    t.add_argument("--worst", type=int, default=10, metavar="N", help="longest records listed (default 10)")
    t.add_argument("overrides", nargs="*", metavar="key.path=value", help="command-line overrides")
    return parser


def _seed_format(path: str) -> bool:
    from .migration_parity import is_seed_format

    try:
        return is_seed_format(path)
    except ConfigError:  # unloadable: the plain diff reports it
        return False


def _dispatch(args: argparse.Namespace, out: Printer, err: Printer) -> int:
    if args.command == "inspect":
        return run_inspect(args.config, args.overrides, args.format, args.explain, args.payload_only, out, err)
    if args.command == "plan":
        return run_plan(args.config, args.overrides, args.json, args.worst)
    if args.command == "migrate":
        return run_migrate(args.source, args.tree, args.out, args.report, out, err)
    if args.command == "parity-report":
        return run_parity_report(args.old, args.new, args.out, out)
    if args.command == "diff" and args.profile == "parity" and _seed_format(args.left):
        return run_migration_diff(args.left, args.right, args.format, out)
    if args.command == "diff":
        return run_diff(args.left, args.right, args.profile, args.format, out, err)
    return run_validate(args.paths, out, args.deep, args.overrides)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out = Printer(sys.stdout, args.color)
    err = Printer(sys.stderr, args.color)
    try:
        return _dispatch(args, out, err)
    except LoadError as exc:
        sys.stdout.flush()
        err.line("\n".join([f"error: cannot load {exc.subject}"] + [f"- {p.render()}" for p in exc.problems]),
                 "bad")
        return EXIT_USAGE
    except ConfigError as exc:  # migrate / parity-report: a file of the old tree cannot be read
        sys.stdout.flush()
        err.line(f"error: {exc}", "bad")
        return EXIT_USAGE
    except (UsageError, MigrateUsageError) as exc:
        sys.stdout.flush()
        err.line(f"{parser.prog}: error: {exc}", "bad")
        return EXIT_USAGE
    except BrokenPipeError:  # `inspect ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
