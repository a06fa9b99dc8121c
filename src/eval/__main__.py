"""`python -m src.eval`: evaluate a checkpoint's detections on a split (docs/evaluation.md).

    python -m src.eval RUN_DIR [--checkpoint checkpoint-N|last] [options] [key.path=value ...]
    python -m src.eval --config PRESET --checkpoint DIR [options] [key.path=value ...]
    python -m src.eval RUN_DIR --predictions FILE        # score an existing predictions.jsonl

Exit 0 on success, 2 on a user mistake (one paragraph on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from src.config import ConfigError, load_training_config

from .source import SPLITS, EvalError, load_run, manifest_add_evaluation, resolve_checkpoint


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m src.eval", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("args", nargs="*", metavar="RUN_DIR | key.path=value",
                   help="a run directory (training.output_dir), then config overrides")
    p.add_argument("--config", help="a preset (instead of RUN_DIR)")
    p.add_argument("--checkpoint", help="checkpoint directory; with RUN_DIR also checkpoint-N or last (default)")
    p.add_argument("--split", default="val", choices=SPLITS)
    p.add_argument("--num", type=int, help="evaluate only the first N records of the split")
    p.add_argument("--backend", default="transformers", choices=("transformers", "vllm"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int,
                   help="generation budget (default: the longest target of the evaluated records + 32)")
    p.add_argument("--out", type=Path, help="output folder (default RUN_DIR/eval/<checkpoint>/<split>/)")
    p.add_argument("--overlays", type=int, default=8, help="overlay PNGs for the first K images")
    p.add_argument("--predictions", type=Path, help="score this predictions.jsonl instead of generating")
    p.add_argument("--coco", action="store_true",
                   help="also write predictions_coco.json (COCO results; ids as `convert to-coco` gives the split)")
    return p.parse_args(argv)


def _split_positionals(args: list[str]) -> tuple[Path | None, list[str]]:
    run_dirs = [a for a in args if "=" not in a]
    if len(run_dirs) > 1:
        raise EvalError(f"expected one RUN_DIR, got {run_dirs}; config overrides are written key.path=value")
    # a relative RUN_DIR is relative to the working directory (not the repository root)
    return (Path(run_dirs[0]).absolute() if run_dirs else None), [a for a in args if "=" in a]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        return _run(args)
    except (EvalError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    run_dir, overrides = _split_positionals(args.args)
    if (run_dir is None) == (args.config is None):
        raise EvalError("give either RUN_DIR (a training run directory) or --config PRESET --checkpoint DIR")
    if args.num is not None and args.num < 1:
        raise EvalError(f"--num must be at least 1, got {args.num}")
    fingerprint = None
    if run_dir is not None:
        run = load_run(run_dir, overrides)
        cfg, fingerprint = run.cfg, run.template_sha256
    else:
        cfg = load_training_config(args.config, overrides, runnable=False)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # ms-swift's INFO lines would bury the progress bar and table
    from . import run as runner  # torch / ms-swift load from here on

    if args.predictions is not None:
        runner.score_predictions(cfg, args.predictions, split=args.split, num=args.num, out_dir=args.out,
                                 num_overlays=args.overlays, coco=args.coco)
        return 0
    checkpoint = resolve_checkpoint(run_dir, args.checkpoint)
    out = args.out or (run_dir / "eval" / checkpoint.name / args.split if run_dir else None)
    metrics = runner.evaluate(cfg, checkpoint, split=args.split, num=args.num, batch_size=args.batch_size,
                              out_dir=out, backend=args.backend, max_new_tokens=args.max_new_tokens,
                              num_overlays=args.overlays, template_fingerprint=fingerprint, coco=args.coco)
    if run_dir is not None:
        manifest_add_evaluation(run_dir, {
            "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "checkpoint": checkpoint.name,
            "split": args.split, "num": args.num, "out": str(out), "bbox/map": metrics.get("bbox/map"),
            "match/f1@0.50": metrics.get("match/f1@0.50")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
