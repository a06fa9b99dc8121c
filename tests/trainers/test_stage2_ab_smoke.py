"""stage2_ab end to end on CPU: the smoke preset, and the same run as two DDP ranks (torchrun, gloo).

The preset starts from the warm coordinate-token checkpoint (src/models/warm_checkpoint.py) on the records it
was trained on, so Channel B parses, matches and supervises the model's own rollouts (1 and 2 ranks); a third
run rewrites the rollouts per rank (tests/trainers/stage2_ab_skew.py) to pin the cross-rank reductions."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

KEYS = ("stage2_ab/b_ratio_realized", "stage2_ab/channel_b/invalid_rollout",
        "stage2_ab/channel_b/strict_drop/N_valid_pred", "stage2_ab/channel_b/strict_drop/N_drop_invalid")
CONFIG = "configs/smoke/stage2_ab_tiny.yaml"
BATCH = 2  # per_device_train_batch_size of the preset
BUDGET = 80  # rollout_matching.max_new_tokens of the preset
RATES = ("rollout/parse_rate", "rollout/truncated_rate", "rollout/empty_rate", "rollout/duplicate_rate")
HEALTH = (*RATES, "rollout/pred_gt_count_ratio", "rollout/mean_length")


def _steps(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r and "global_step/max_steps" in r]


def _check_channels(steps: list[dict], ranks: int) -> None:
    assert len(steps) >= 4
    for s, row in enumerate(steps):
        for key in KEYS:
            assert math.isfinite(row[key]), (s, key)
        channel_b = s % 2 == 1  # b_ratio 0.5: step 0 is A, step 1 is B, ...
        assert row["stage2_ab/b_ratio_realized"] == pytest.approx(((s + 1) // 2) / (s + 1))
        own, other = ("stage2_ab/loss_B", "stage2_ab/loss_A") if channel_b else ("stage2_ab/loss_A", "stage2_ab/loss_B")
        assert other not in row
        assert row[own] == pytest.approx(row["loss"], rel=1e-6)  # the channel's loss is the step's loss
        if channel_b:
            assert row["stage2_ab/channel_b/rollouts"] == BATCH * ranks
            assert row["stage2_ab/channel_b/rollout/tokens_per_s"] > 0
            assert row["stage2_ab/channel_b/rollout/seconds"] > 0
            _check_health(row, ranks)
        else:
            assert row["stage2_ab/channel_b/rollouts"] == 0
            assert row["stage2_ab/channel_b/strict_drop/N_valid_pred"] == 0
            assert row["rollout/completions"] == 0 and not set(HEALTH) & set(row)  # no rollouts, no rates


def _check_health(row: dict, ranks: int) -> None:
    """Rollout health of a Channel-B step: in range, and consistent with the Channel-B counters computed apart."""
    b = "stage2_ab/channel_b/"
    assert row["rollout/completions"] == row[b + "rollouts"] == BATCH * ranks
    for key in RATES:
        if key in row:  # a duplicate rate needs predicted objects
            assert 0.0 <= row[key] <= 1.0, key
    assert 0 < row["rollout/mean_length"] <= BUDGET
    assert row["rollout/mean_length"] * row["rollout/completions"] == pytest.approx(row[b + "rollout/generated_tokens"])
    assert row["rollout/parse_rate"] <= 1 - row[b + "invalid_rollout"] / row[b + "rollouts"]  # invalid never parses
    # predicted = what the parse kept = kept by the strict filter + dropped by its extra checks;
    # ground truth = matched + FN-injected objects
    predicted = row[b + "strict_drop/N_valid_pred"] + sum(row[b + "strict_drop/reason/" + r]
                                                          for r in ("out_of_image", "degenerate"))
    gt = row[b + "match/matched"] + row[b + "match/fn"]
    assert row["rollout/pred_gt_count_ratio"] == pytest.approx(predicted / gt)
    assert ("rollout/duplicate_rate" in row) == (predicted > 0)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, repo_root, warm_coord_model_dir, easy_rl_data_dir):
    out = tmp_path_factory.mktemp("stage2_ab") / "run"
    cmd = [sys.executable, "-m", "src.sft", "--config", CONFIG,
           f"training.output_dir={out}", f"training.logging_dir={out}/tb", "training.report_to=[tensorboard]"]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    return _steps(out), next(r["train_runtime"] for r in rows if "train_runtime" in r), out / "tb"


def test_smoke_runs_both_channels_and_logs_their_losses_and_metrics(smoke):
    steps, train_seconds, _ = smoke
    _check_channels(steps, ranks=1)
    assert train_seconds < 100  # about 15 s on 2 idle CPU cores (model loading comes on top)
    # The warm detector is right on all 4 images this one-rank run rolls out (precision 1.0 on unseen records,
    # measured), so it has no false positive to mask; the two-rank run's other images have some (fp 1 and 2).
    _check_real_rollouts(steps[1::2], ranks=1, false_positives=False)


def test_rollout_health_reaches_tensorboard_on_channel_b_steps(smoke):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps, _, tb = smoke
    events = EventAccumulator(str(tb))
    events.Reload()
    for key in HEALTH:  # transformers' TensorBoard callback writes training keys under train/
        assert [e.step for e in events.Scalars(f"train/{key}")] == [s for s, r in enumerate(steps, 1) if key in r], key
    assert [e.value for e in events.Scalars("train/rollout/mean_length")] == pytest.approx(
        [r["rollout/mean_length"] for r in steps[1::2]])


def _check_real_rollouts(b_steps: list[dict], ranks: int, false_positives: bool = True) -> None:
    """Channel B on the warm model's own rollouts: they parse, Hungarian matching pairs them with the ground
    truth, and what is left over is handled: unmatched predictions stay FP-neutral, missed objects are injected."""
    for row in b_steps:
        assert row["stage2_ab/channel_b/rollout/generated_tokens"] > 0
        assert row["stage2_ab/channel_b/strict_drop/N_valid_pred"] > 0
        assert row["stage2_ab/channel_b/invalid_rollout"] < BATCH * ranks
        assert row["stage2_ab/channel_b/match/matched"] > 0
    if false_positives:  # the rollouts held a prediction no ground-truth object matched: FP-neutral acted on it
        assert sum(row["stage2_ab/channel_b/match/fp"] for row in b_steps) > 0
    assert sum(row["stage2_ab/channel_b/match/fn"] for row in b_steps) > 0  # FN injection acted


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(repo_root: Path, script: list[str], out: Path, *extra: str, env_extra: dict | None = None):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *script, "--config", CONFIG,
           f"training.output_dir={out}", f"training.logging_dir={out}/tb", "training.save_strategy='no'", *extra]
    # ACCELERATE_USE_CPU: without it accelerate sees no accelerator and runs every rank as a single
    # process (no DDP); with it, transformers builds a MULTI_CPU (gloo) DDP run.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true",
           **(env_extra or {})}
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def two_ranks_real(tmp_path_factory, repo_root, warm_coord_model_dir, easy_rl_data_dir):
    """Two CPU ranks on the model's own rollouts (no rewriting)."""
    out = tmp_path_factory.mktemp("stage2_ab_ddp_real") / "run"
    _torchrun(repo_root, ["-m", "src.sft"], out)
    return _steps(out)


def test_two_ranks_match_real_rollouts(two_ranks_real):
    steps = two_ranks_real
    assert len(steps) == 4  # one writer: rank 0 of a real DDP run
    _check_channels(steps, ranks=2)
    _check_real_rollouts(steps[1::2], ranks=2)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, repo_root, warm_coord_model_dir, easy_rl_data_dir):
    """Two CPU ranks whose rollouts are rewritten per rank (tests/trainers/stage2_ab_skew.py)."""
    base = tmp_path_factory.mktemp("stage2_ab_ddp")
    out, ranks_dir = base / "run", base / "ranks"
    ranks_dir.mkdir()
    proc = _torchrun(repo_root, [str(repo_root / "tests/trainers/stage2_ab_skew.py")], out,
                     env_extra={"STAGE2_SKEW_LOG": str(ranks_dir)})
    per_rank = {r: [json.loads(line) for line in (ranks_dir / f"rank{r}.jsonl").read_text().splitlines()]
                for r in (0, 1)}
    return _steps(out), per_rank, proc.stdout + proc.stderr


def test_two_ranks_complete_with_different_valid_prediction_counts(two_ranks):
    steps, per_rank, _ = two_ranks
    assert len(steps) == 4  # one writer: rank 0 of a real DDP run (not two independent processes)
    _check_channels(steps, ranks=2)
    b_steps = steps[1::2]
    assert len(per_rank[0]) == len(per_rank[1]) == len(b_steps)  # one Channel-B batch per B step per rank
    for r0, r1, row in zip(per_rank[0], per_rank[1], b_steps):
        assert r0["n_valid_pred"] != r1["n_valid_pred"]  # the ranks really saw different rollouts
        assert row["stage2_ab/channel_b/strict_drop/N_valid_pred"] == r0["n_valid_pred"] + r1["n_valid_pred"]
        assert row["stage2_ab/channel_b/strict_drop/N_drop_invalid"] == r0["n_drop_invalid"] + r1["n_drop_invalid"]
        assert row["stage2_ab/channel_b/invalid_rollout"] == 0
        # every rewritten rollout is one valid document of distinct boxes; both ranks' counts are summed
        health = [sum(r["health"][k] for r in (r0, r1)) for k in ("parsed", "pred_objects", "gt_objects")]
        assert row["rollout/parse_rate"] == 1.0 and health[0] == BATCH * 2
        assert row["rollout/duplicate_rate"] == 0.0
        assert row["rollout/pred_gt_count_ratio"] == pytest.approx(health[1] / health[2])
        assert health[1] == r0["n_valid_pred"] + r1["n_valid_pred"] + r1["n_drop_invalid"]  # the flat box parses
    # FP-neutral boxes made the ranks' Channel-B sequences differ in length: matching is exercised
    assert all(row["stage2_ab/channel_b/match/fp"] > 0 for row in b_steps)
