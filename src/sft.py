"""`python -m src.sft --config <yaml> [key.path=value ...]`: the one training entry point.

Only orchestration lives here: load and validate the config (fast, no torch), then hand the
typed config to the trainer dispatch, which builds model, template, datasets and trainer.
A config mistake ends here with a readable message and exit code 2, before anything heavy loads.
"""

from __future__ import annotations

import argparse
import logging
import sys

from src.config import ConfigError, load_training_config

logger = logging.getLogger("src.sft")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m src.sft",
        description="Resolve a layered YAML preset and run SFT, GKD, GRPO or stage2_ab training.",
    )
    parser.add_argument("--config", required=True, help="training preset, e.g. configs/debug.yaml")
    parser.add_argument(
        "overrides", nargs="*", metavar="key.path=value",
        help="command-line overrides applied after the YAML layers (recorded as their own layer)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_training_config(args.config, overrides=args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logger.info("config %s resolved (mode=%s, %d files)", args.config, cfg.mode, len(cfg.source.chain))

    from src.trainers.dispatch import ModeNotAvailable, run_training  # heavy: after the config is valid

    try:
        run_training(cfg)
    except ModeNotAvailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
