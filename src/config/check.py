"""`python -m src.config.check PATH [PATH ...] [--set key=value ...]`: resolve and validate configs.

Prints one line per file (fusion configs under configs/fusion are checked with the fusion
loader) and, for each invalid file, its ConfigError text without a traceback. Exit 0 when all
are valid, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from .errors import ConfigError
from .fusion import load_fusion_config
from .loader import is_fusion_config, load_training_config
from .paths import display_path, locate_config_file


def check_one(path: str, overrides: list[str]) -> str | None:
    """None when valid, else the error text."""
    try:
        if is_fusion_config(path):
            load_fusion_config(path)
        else:
            load_training_config(path, overrides)
    except ConfigError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.config.check", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="config files")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="command-line override applied to training configs (repeatable)")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.paths:
        error = check_one(path, args.overrides)
        name = display_path(locate_config_file(path))
        if error is None:
            print(f"ok      {name}", flush=True)
        else:
            failed += 1
            print(f"INVALID {name}\n{error}\n", file=sys.stderr, flush=True)
    if len(args.paths) > 1:
        print(f"{len(args.paths)} files checked, {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
