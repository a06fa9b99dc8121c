"""Two-dataset fusion SFT smoke with telemetry: logging.jsonl has losses per dataset and token type."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

DATASETS = ("synthetic_dense", "synthetic_dense_b")
TOKEN_TYPES = ("desc", "coord", "structure")


@pytest.fixture(scope="module")
def fusion_log(tmp_path_factory, repo_root, tiny_model_dir, synthetic_data_dir):
    from src.datasets.synthetic import SyntheticSpec, generate_dataset

    generate_dataset(repo_root / "artifacts/data/synthetic_dense_b", SyntheticSpec(seed=1, n_train=48, n_val=8))
    out = tmp_path_factory.mktemp("fusion") / "run"
    cmd = [sys.executable, "-m", "src.sft", "--config", "configs/smoke/sft_fusion_tiny.yaml",
           f"training.output_dir={out}", f"training.logging_dir={out}/tb"]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]


def test_every_step_logs_a_loss_per_token_type_and_the_datasets_it_saw(fusion_log):
    steps = [row for row in fusion_log if "loss" in row and "global_step/max_steps" in row]
    assert len(steps) == 6
    for row in steps:
        for t in TOKEN_TYPES:
            assert math.isfinite(row[f"loss/token_type/{t}"]) and 0.0 <= row[f"acc/token_type/{t}"] <= 1.0
        seen = [d for d in DATASETS if f"loss/dataset/{d}" in row]
        assert seen, row
        # token-weighted per-dataset (and per-type) losses recombine into the step's loss
        for family, names in (("dataset", seen), ("token_type", TOKEN_TYPES)):
            n = sum(row[f"tokens/{family}/{x}"] for x in names)
            mean = sum(row[f"loss/{family}/{x}"] * row[f"tokens/{family}/{x}"] for x in names) / n
            assert mean == pytest.approx(row["loss"], rel=1e-4)
        assert sum(row[f"tokens/dataset/{d}"] for d in seen) == sum(row[f"tokens/token_type/{t}"] for t in TOKEN_TYPES)
    for d in DATASETS:  # both fusion datasets were trained on
        assert any(f"loss/dataset/{d}" in row for row in steps)


def test_evaluation_logs_per_dataset_losses(fusion_log):
    evals = [row for row in fusion_log if "eval_loss" in row]
    assert evals
    row = evals[-1]
    for d in DATASETS:
        assert math.isfinite(row[f"eval_loss/dataset/{d}"])
    for t in TOKEN_TYPES:
        assert math.isfinite(row[f"eval_loss/token_type/{t}"])
    # every supervised eval token is attributed to its dataset (eval items carry dataset_name too)
    assert "eval_loss/dataset/unknown" not in row
    n = sum(row[f"eval_tokens/dataset/{d}"] for d in DATASETS)
    assert n == sum(row[f"eval_tokens/token_type/{t}"] for t in TOKEN_TYPES)
    # eval_loss is HF's mean of batch means; the token-weighted mean is close to it
    mean = sum(row[f"eval_loss/dataset/{d}"] * row[f"eval_tokens/dataset/{d}"] for d in DATASETS) / n
    assert mean == pytest.approx(row["eval_loss"], rel=0.05)


@pytest.fixture(scope="module")
def two_rank_log(tmp_path_factory, repo_root, fusion_log):
    """The same smoke as two CPU ranks (torchrun, gloo): the telemetry collectives run for real."""
    out = tmp_path_factory.mktemp("fusion_ddp") / "run"
    port = _free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "src.sft",
           "--config", "configs/smoke/sft_fusion_tiny.yaml", f"training.output_dir={out}",
           f"training.logging_dir={out}/tb", "training.max_steps=3", "training.eval_strategy='no'",
           "training.save_strategy='no'"]
    # ACCELERATE_USE_CPU: without it accelerate finds no accelerator and each rank trains alone.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900, check=False, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_sum_tokens_and_agree_with_ms_swift_token_acc(two_rank_log):
    steps = [row for row in two_rank_log if "loss" in row and "global_step/max_steps" in row]
    assert len(steps) == 3
    for row in steps:
        seen = [d for d in DATASETS if f"tokens/dataset/{d}" in row]
        n = sum(row[f"tokens/dataset/{d}"] for d in seen)
        assert n == sum(row[f"tokens/token_type/{t}"] for t in TOKEN_TYPES)
        # ms-swift's token_acc is a sum/count all-reduce over both ranks: ours must agree exactly
        acc = sum(row[f"acc/dataset/{d}"] * row[f"tokens/dataset/{d}"] for d in seen) / n
        assert acc == pytest.approx(row["token_acc"], abs=1e-6)
