"""custom.detection_eval: sharding, gather and scoring on 1 and 2 gloo ranks, the log hook, the config rules."""

from __future__ import annotations

import traceback
from types import SimpleNamespace

import pytest
import torch.distributed as dist
from gloo_ranks import run_two_ranks

from src.config import ConfigError, load_training_config
from src.datasets.render import render_target
from src.rollout.base import RolloutResult
from src.trainers.detection_eval import DetectionEvalMixin, DetectionEvalState, shard_batches

PRESET = "configs/smoke/sft_dense_tiny.yaml"
ON = ["custom.detection_eval.enabled=true", "custom.detection_eval.every_steps=3",
      "custom.detection_eval.num_samples=3", "custom.detection_eval.batch_size=1"]
TEMPLATE = SimpleNamespace(max_pixels=65536, processor=SimpleNamespace(image_processor=SimpleNamespace(
    patch_size=16, merge_size=2, min_pixels=1024, max_pixels=1 << 24, size=None)))


def test_shards_cover_every_sample_once_in_equal_batch_counts():
    for n in range(8):
        for world in (1, 2, 3):
            for bs in (1, 2, 4):
                shards = [shard_batches(n, r, world, bs) for r in range(world)]
                assert len({len(s) for s in shards}) == 1  # the same number of generate calls on every rank
                got = sorted(p for s in shards for batch in s for p in batch if p is not None)
                assert got == list(range(n))
                assert all(len(batch) == bs for s in shards for batch in s)


class ScriptedBackend:
    """Answers sample k with its exact ground-truth target when k is even, with garbage when odd."""

    name = "scripted"

    def __init__(self, cfg):
        self.cfg = cfg
        self.calls = 0

    def generate(self, requests, *, max_new_tokens, temperature, top_p, do_sample, seed=None):
        self.calls += 1
        out = []
        for r in requests:
            record, k = self.by_image[str(r.images[0])]
            text = render_target(record, coord_format="norm1000") if k % 2 == 0 else '{"objects": [{"desc": '
            out.append(RolloutResult(text=text, token_ids=[], prompt_ids=None, finish_reason="stop"))
        return out


def _state(cfg):
    backend = ScriptedBackend(cfg)
    state = DetectionEvalState(cfg, backend, every=3, next_step=3)
    state.prepare(TEMPLATE)
    backend.by_image = {str(s.conversation["images"][0]): (s.record, k) for k, s in enumerate(state.samples)}
    return state


@pytest.fixture(scope="module")
def cfg(synthetic_data_dir):
    return load_training_config(PRESET, ON)


def _expected(cfg):
    state = _state(cfg)
    n_gt = [len(s.record.objects) for s in state.samples]
    tp = n_gt[0] + n_gt[2]
    return tp, n_gt


def test_one_rank_scores_the_scripted_answers(cfg):
    state = _state(cfg)
    metrics, images = state.run(TEMPLATE)
    tp, n_gt = _expected(cfg)
    assert [len(im.gts) for im in images] == n_gt
    assert metrics["match/recall@0.50"] == pytest.approx(tp / sum(n_gt))
    assert metrics["match/precision@0.50"] == 1.0
    assert metrics["parse/parse_rate"] == pytest.approx(2 / 3)
    assert metrics["bbox/ap50"] > 0.5
    assert state.backend.calls == 3


def _worker(rank: int, init: str, results) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        cfg = load_training_config(PRESET, ON)
        state = _state(cfg)
        metrics, images = state.run(TEMPLATE)
        results[rank] = {"metrics": {k: v for k, v in metrics.items() if k != "per_dataset"},
                         "calls": state.backend.calls, "n": len(images)}
    except Exception:  # noqa: BLE001 - reported to the parent
        results[rank] = traceback.format_exc()
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_shard_gather_and_agree_with_one_rank(cfg, tmp_path):
    one, _ = _state(cfg).run(TEMPLATE)
    results, hung = run_two_ranks(_worker, tmp_path, 120)
    assert not hung, "a rank hung"
    for rank in (0, 1):
        assert isinstance(results[rank], dict), results[rank]
        assert results[rank]["n"] == 3  # every rank holds all three images after the gather
        assert results[rank]["calls"] == 2  # 3 samples over 2 ranks, batch 1: two calls each (one padded)
    assert results[0]["metrics"] == results[1]["metrics"]
    expected = {k: v for k, v in one.items() if k != "per_dataset"}
    assert results[0]["metrics"] == expected


class _Base:
    def __init__(self):
        self.logged = []

    def log(self, logs, *args, **kwargs):
        self.logged.append(dict(logs))


class _Trainer(DetectionEvalMixin, _Base):
    pass


def test_log_hook_runs_at_the_first_log_at_or_after_each_due_step(cfg):
    trainer = _Trainer()
    trainer.template = TEMPLATE
    trainer._detection_eval = _state(cfg)
    trainer.state = SimpleNamespace(global_step=0, is_world_process_zero=False)
    for step in (1, 2, 4, 5, 6, 6):  # logging_steps 1 with a gap at 3; the final summary log repeats step 6
        trainer.state.global_step = step
        trainer.log({"loss": 1.0})
    has = [any(k.startswith("eval_det/") for k in row) for row in trainer.logged]
    assert has == [False, False, True, False, True, False]
    assert trainer.logged[2]["eval_det/parse_rate"] == pytest.approx(2 / 3) and trainer.logged[2]["loss"] == 1.0


def test_config_rules(synthetic_data_dir, easy_rl_data_dir):
    assert load_training_config(PRESET, ON).custom.detection_eval.num_samples == 3
    with pytest.raises(ConfigError, match="every_steps"):
        load_training_config(PRESET, ["custom.detection_eval.enabled=true"])
    with pytest.raises(ConfigError, match="not a whole number of steps"):
        load_training_config(PRESET, ["custom.detection_eval.enabled=true", "training.eval_steps=0.1"])
    uses_eval_steps = load_training_config(PRESET, ["custom.detection_eval.enabled=true", "training.eval_steps=5"])
    assert uses_eval_steps.custom.detection_eval.every_steps is None
    with pytest.raises(ConfigError, match="num_sample"):
        load_training_config(PRESET, [*ON, "custom.detection_eval.num_sample=3"])
    with pytest.raises(ConfigError, match="sft and stage2_ab runs only"):
        load_training_config("configs/smoke/grpo_dense_tiny.yaml", ON)
