"""A smoke SFT with custom.detection_eval logs eval_det/* at least twice, on 1 and on 2 gloo ranks, with identical
values for the same weights (learning rate 1e-12, the smallest a config accepts in effect: an Adam step of that size
is below float32 resolution of the weights, so every evaluation sees the initial checkpoint)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # two 2-step smoke SFTs (1 rank, 2 ranks) and a 2-step stage2_ab, each with small generations: ~3-4 min

OVERRIDES = ["training.max_steps=2", "training.save_strategy='no'", "training.learning_rate=1e-12",
             "training.vit_lr=0.0", "training.aligner_lr=0.0", "custom.detection_eval.enabled=true",
             "custom.detection_eval.every_steps=1", "custom.detection_eval.num_samples=3",
             "custom.detection_eval.max_new_tokens=12", "custom.detection_eval.batch_size=2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(repo_root, out, ranks: int, *extra: str) -> list[dict]:
    args = ["-m", "src.sft", "--config", "configs/smoke/sft_dense_tiny.yaml", f"training.output_dir={out}",
            f"training.logging_dir={out}/tb", *OVERRIDES, *extra]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    if ranks > 1:
        args = ["-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(ranks), "--master_addr",
                "127.0.0.1", "--master_port", str(_free_port()), *args]
        env["ACCELERATE_USE_CPU"] = "true"
    proc = subprocess.run([sys.executable, *args], cwd=repo_root, capture_output=True, text=True, timeout=900,
                          check=False, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k.startswith("eval_det/")} | {"step": row["global_step/max_steps"]}
            for row in rows if any(k.startswith("eval_det/") for k in row)]


def test_eval_det_is_logged_every_step_with_the_same_values_on_one_and_two_ranks(tmp_path, repo_root,
                                                                                 tiny_model_dir, synthetic_data_dir):
    one = _run(repo_root, tmp_path / "one", 1, "training.report_to=[tensorboard]")
    two = _run(repo_root, tmp_path / "two", 2)
    assert [r["step"] for r in one] == [r["step"] for r in two] == ["1/2", "2/2"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "one" / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert {"eval/det/overlay_0", "eval/det/overlay_1"} <= set(events.Tags()["images"])  # num_images_to_log 2
    assert [e.step for e in events.Images("eval/det/overlay_0")] == [1, 2]
    assert [e.step for e in events.Scalars("eval/det/f1@0.50")] == [1, 2]
    for row in one:
        assert row["eval_det/mean_gt_objects"] > 0 and "eval_det/map" in row and "eval_det/f1@0.50" in row
    assert one == two


def test_stage2_ab_logs_eval_det_too(tmp_path, repo_root, warm_coord_model_dir, easy_rl_data_dir):
    out = tmp_path / "s2"
    cmd = [sys.executable, "-m", "src.sft", "--config", "configs/smoke/stage2_ab_tiny.yaml",
           f"training.output_dir={out}", f"training.logging_dir={out}/tb", "training.max_steps=2",
           "training.save_strategy='no'", "custom.detection_eval.enabled=true", "custom.detection_eval.every_steps=1",
           "custom.detection_eval.num_samples=2", "custom.detection_eval.max_new_tokens=8"]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    steps = [r["global_step/max_steps"] for r in rows if "eval_det/f1@0.50" in r and "global_step/max_steps" in r]
    assert steps == ["1/2", "2/2"]
    assert all("stage2_ab/b_ratio_realized" in r or "loss" in r for r in rows if "eval_det/map" in r)
