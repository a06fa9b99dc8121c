"""`python -m src.datasets.plan --config PRESET [key.path=value ...] [--json] [--worst N]`: the token-budget plan.

Every record of every fusion entry (train and val) counted exactly as the run encodes it (no pixels
decoded, no model weights loaded), per entry p50 / p90 / p99 / max and the records over the mode's limits,
the longest records (file:line, length, objects, how many fit), and the smallest `global_max_length` that
covers 99 % and 100 % of them. Cached by the records' and settings' fingerprint (`preflight_cache`).
Exit 0 when every record fits, 1 when some are over, 2 for a config or record error.
(`scripts/config_tools/inspect_config.py plan` runs this module.)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from src.config import ConfigError, load_training_config

from .records import RecordError
from .render import RenderError

EXIT_OK, EXIT_OVER, EXIT_ERROR = 0, 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.datasets.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="training preset, e.g. configs/smoke/sft_dense_tiny.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="command-line overrides, as for src.sft")
    parser.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    parser.add_argument("--worst", type=int, default=10, metavar="N", help="longest records listed (default 10)")
    return parser.parse_intermixed_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # ms-swift's logger: no INFO lines around the plan
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_training_config(args.config, overrides=args.overrides)
        if cfg.fusion is None:
            print(f"error: {cfg.source.display} names no custom.fusion_config: there is nothing to plan", file=sys.stderr)
            return EXIT_ERROR
        from .plan_report import plan_json, render_plan
        from .token_plan import build_plan

        plan = build_plan(cfg, progress=not args.json)
    except (ConfigError, RecordError, RenderError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(plan_json(plan, args.worst), indent=1))
    else:
        from rich.console import Console

        render_plan(plan, Console(width=None if sys.stdout.isatty() else 160), args.worst)  # piped: no wrapping
    return EXIT_OVER if plan.over_count() else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
