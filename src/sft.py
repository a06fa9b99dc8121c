"""`python -m src.sft --config <yaml> [key.path=value ...]`: the one training entry point.

Only orchestration lives here: load and validate the config (fast, no torch), then hand the
typed config to the trainer dispatch, which builds model, template, datasets and trainer.
A config mistake ends here with a readable message and exit code 2, before anything heavy loads
(schema, value rules, optional GPU packages); values only ms-swift can judge are checked where the
ms-swift arguments are built (src/boundary/arguments.py), still before any weights load.
So does a run directory that already holds another run (see src/provenance/rundir.py). Rank 0 writes `run_manifest.json` into the run directory before the first optimizer step.
"""

from __future__ import annotations

import argparse
import logging
import sys

from src.config import ConfigError, TrainingConfig, load_training_config
from src.config.ignored_settings import config_warnings
from src.config.requirements import launch_problems
from src.datasets.overlong import plan_preflight
from src.datasets.preflight import records_preflight
from src.datasets.records import RecordError
from src.distributed import shutdown
from src.provenance import RunDirError, RunInterrupted, is_rank_zero
from src.provenance.launch import open_run
from src.provenance.resume import NothingToResume
from src.trainers.console import quiet_progress_bars  # no torch / ms-swift at import

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
    parser.add_argument("--resume", action="store_true",
                        help="continue from the last checkpoint in training.output_dir (same data order and RNG)")
    parser.add_argument("--allow-existing-run-dir", action="store_true",
                        help="start a new run in a used training.output_dir (the previous run moves to previous_runs/)")
    parser.add_argument("--allow-config-change", action="append", default=[], metavar="KEY[,KEY...]",
                        type=lambda text: [k.strip() for k in text.split(",") if k.strip()],
                        help="with --resume: continue although KEY (and the keys below it) differs from the recorded "
                             "run; repeat or comma-separate for several (recorded in run_manifest.json)")
    parser.add_argument("--verbose", action="store_true",
                        help="show ms-swift's INFO output (its argument dump included) on the console; by default "
                             "it goes to RUN_DIR/logs/train.log only")
    return parser.parse_intermixed_args(argv)


def setup_logging() -> None:
    """Our own handler on the `src` logger: ms-swift resets the root handler to ERROR on import,
    which would otherwise silence every progress line of the launcher."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("src")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def preflight(cfg: TrainingConfig) -> None:
    """Launch checks on this machine, still before anything heavy, reported together: the optional
    GPU packages the config needs (with the install command) and the vLLM server settings."""
    problems = launch_problems(cfg)
    if problems:
        raise ConfigError(problems, subject=cfg.source.display)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    quiet_progress_bars(args.verbose)
    try:
        cfg = load_training_config(args.config, overrides=args.overrides)
        preflight(cfg)
        for warning in config_warnings(cfg):  # settings without effect that are harmless (docs/config_guide.md)
            print(f"warning: {warning.render()}", file=sys.stderr)
        # the run-directory guard and the resume checks first (cheap); nothing is moved until the data passes
        cfg, session = open_run(cfg, args.config, args.overrides, resume=args.resume,
                                allow_existing=args.allow_existing_run_dir,
                                allow_changes=[k for keys in args.allow_config_change for k in keys])
        records_preflight(cfg)  # every record and image of the run, before the model (src/datasets/preflight.py)
        plan_preflight(cfg)  # token budget of every record vs custom.overlong (docs/data_contract.md)
        session.activate()
    except (ConfigError, RunDirError, RecordError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NothingToResume as exc:  # --resume of a finished run: not an error, nothing to do
        print(exc)
        return 0
    logger.info("config %s resolved (mode=%s, %d files)", args.config, cfg.mode, len(cfg.source.chain))

    from src.audit.template_fingerprint import TemplateDriftError
    from src.rollout import RolloutError
    from src.trainers.console import route_logs
    from src.trainers.dispatch import ModeNotAvailable, run_training  # heavy: after the config is valid

    route_logs(session.run_dir, verbose=args.verbose, write_file=is_rank_zero())
    try:
        with session.track():
            run_training(cfg, session)
    except (ConfigError, ModeNotAvailable, RolloutError, TemplateDriftError, RecordError) as exc:  # found once the stack loads
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunInterrupted as exc:
        print(f"{exc}; continue with --resume", file=sys.stderr)
        return exc.exit_code
    finally:
        shutdown()  # every rank leaves the process group before the interpreter exits
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
