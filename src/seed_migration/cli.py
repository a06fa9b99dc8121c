"""The config tools' command line with the seed migration's commands added (`Extension` of
`src.config.tools.cli`): what `scripts/config_tools/inspect_config.py` and `python -m src.seed_migration` run.

    migrate  OLD.yaml [--out NEW.yaml] | --tree OLD_ROOT --out NEW_ROOT [--report FILE]
    parity-report --old OLD_ROOT --new NEW_ROOT [--out FILE]
    diff --left A --right B --profile parity   (the seed 001 allowlist, `parity.parity_profile`)
    diff --left SEED.yaml --right OURS.yaml --profile parity   (migration table applied to the left)

plus every command of the config tools (inspect, diff, validate, plan).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from src.config.errors import ConfigError
from src.config.tools import cli as config_cli
from src.config.tools.output import Printer

from .commands import MigrateUsageError, run_migrate, run_migration_diff, run_parity_report
from .parity import parity_profile

EPILOG = """\
  diff --left old.yaml --right new.yaml --profile parity    (seed 001 allowlist; seed-format left: migrated first)
  migrate --tree ../seed/configs --out configs/migrated     (seed-format tree -> ours, with a report)
  parity-report --old ../seed/configs --new configs/migrated
"""


def _add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    m = sub.add_parser("migrate", parents=[common], help="translate seed-format configs into ours, with a report",
                       description="Translate the seed system's configs (keys, sections, value forms) into ours. "
                       "Comments are kept; paths the seed wrote relative to its repository point at the migrated "
                       "files (or back into the seed repository); every translation and every setting without an "
                       "equivalent is written to a report (exit 1 when there are such settings).")
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


def _seed_format(path: str) -> bool:
    from .migration_parity import is_seed_format

    try:
        return is_seed_format(path)
    except ConfigError:  # unloadable: the plain diff reports it
        return False


def _dispatch(args: argparse.Namespace, out: Printer, err: Printer) -> int | None:
    if args.command == "migrate":
        return run_migrate(args.source, args.tree, args.out, args.report, out, err)
    if args.command == "parity-report":
        return run_parity_report(args.old, args.new, args.out, out)
    if args.command == "diff" and args.profile == "parity" and _seed_format(args.left):
        return run_migration_diff(args.left, args.right, args.format, out)
    return None


EXTENSION = config_cli.Extension(_add_parsers, _dispatch, EPILOG, " Migrate the seed system's configs into ours.",
                                 (MigrateUsageError,), {"parity": parity_profile})


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    return config_cli.main(argv, prog, EXTENSION)
