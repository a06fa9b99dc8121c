"""Run provenance: the run manifest, copies of the config chain, run-directory guard, exact resume
and reproduction from a run directory. Importing it loads no torch/transformers/ms-swift
(the trainer callback lives in `src.provenance.callback` and is imported by the trainer side).

Layout of a run directory (`training.output_dir`): `run_manifest.json` (manifest.py),
`config/` (configcopy.py), `checkpoint-N/`, `last-checkpoint`, ms-swift's `args.json` and
`logging.jsonl`, and `previous_runs/<time>/` after `--allow-existing-run-dir`.
"""

from .rundir import MANIFEST_NAME, RunDirError, RunPlan, plan_run_dir, scan_run_dir
from .session import RunInterrupted, RunSession, is_rank_zero

__all__ = [
    "MANIFEST_NAME",
    "RunDirError",
    "RunInterrupted",
    "RunPlan",
    "RunSession",
    "is_rank_zero",
    "plan_run_dir",
    "scan_run_dir",
]
