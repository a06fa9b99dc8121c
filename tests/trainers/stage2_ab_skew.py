"""Test-only entry point: `python -m src.sft` with rank-dependent Channel-B rollouts.

The model's own rollouts give each rank whatever counts they give (tested on their own in
test_stage2_ab_smoke.py). To pin the cross-rank reductions against known per-rank counts, this wrapper
keeps the real `hf` generation (the model still generates on every rank) and then replaces each completion's text by a CoordJSON document whose
object count depends on the rank and the request index: rank r, request i has ``1 + 2r + i`` valid
boxes, and rank 1 adds one degenerate box (dropped by the strict filter). So the ranks build
Channel-B sequences of different lengths and see different numbers of valid predictions.

Each rank appends what its Channel-B batches saw (valid predictions, drops, rollouts, rollout health) to
``$STAGE2_SKEW_LOG/rank<r>.jsonl`` so the test can compare ranks with the reduced metrics.

Run as a script by torchrun: ``python -m torch.distributed.run ... tests/trainers/stage2_ab_skew.py
--config configs/smoke/stage2_ab_tiny.yaml key=value ...``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def skewed_document(rank: int, index: int) -> tuple[str, int, int]:
    """(text, valid boxes, dropped boxes) of request ``index`` on ``rank``."""
    boxes = [f'{{"desc": "box {j}", "bbox_2d": [<|coord_{10 + j}|>, <|coord_20|>, <|coord_{400 + j}|>, '
             f'<|coord_{500 + 10 * j}|>]}}' for j in range(1 + 2 * rank + index)]
    dropped = 1 if rank == 1 else 0
    boxes += ['{"desc": "flat", "bbox_2d": [<|coord_5|>, <|coord_5|>, <|coord_5|>, <|coord_9|>]}'] * dropped
    return '{"objects": [' + ", ".join(boxes) + "]}", 1 + 2 * rank + index, dropped


def install() -> None:
    from src.rollout.hf_backend import HfRolloutBackend

    original = HfRolloutBackend.generate

    def generate(self, requests, **kwargs):
        results = original(self, requests, **kwargs)
        rank = int(os.environ.get("RANK", "0"))
        return [dataclasses.replace(r, text=skewed_document(rank, i)[0]) for i, r in enumerate(results)]

    HfRolloutBackend.generate = generate

    from src.trainers.stage2_ab_batch import ChannelBBuilder

    build = ChannelBBuilder.build

    def recording_build(self, sources, seed=None):
        built = build(self, sources, seed=seed)
        out = Path(os.environ["STAGE2_SKEW_LOG"]) / f"rank{os.environ.get('RANK', '0')}.jsonl"
        c = built.counts
        with out.open("a") as f:
            f.write(json.dumps({"rollouts": c.rollouts, "n_valid_pred": c.n_valid_pred,
                                "n_drop_invalid": c.n_drop_invalid, "invalid_rollouts": c.invalid_rollouts,
                                "health": dataclasses.asdict(c.health)}) + "\n")
        return built

    ChannelBBuilder.build = recording_build


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    install()
    from src.sft import main

    raise SystemExit(main(sys.argv[1:]))
