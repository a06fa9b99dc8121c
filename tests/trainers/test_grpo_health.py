"""GRPO rollout health: counted from ms-swift's own samples in `_log_rollout`, logged (and summed over ranks) in `log`."""

from __future__ import annotations

import traceback
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from gloo_ranks import run_two_ranks
from swift.rl_core.data import OnPolicySample

from src.stage2 import rollout_health as H
from src.trainers.grpo_health import install_rollout_health, samples_health

GOOD = '{"objects": [{"desc": "red box", "bbox_2d": [100, 100, 500, 500]}]}'
CUT = '{"objects": [{"desc": "red box", "bbox_2d": [100, 100, 5'


def _sample(text: str, ids, finish: str | None = "stop", gt=({"desc": "red box", "bbox_2d": [10, 10, 50, 50]},),
            prefix: str | None = None) -> OnPolicySample:
    extra = {"gt_objects": None if gt is None else list(gt), "width": 100, "height": 100, "coord_format": "norm1000",
             "gt_summary": None, "dataset_name": "easy"}
    if prefix is not None:
        extra["assistant_prefix"] = prefix
    return OnPolicySample(messages=[{"role": "user", "content": "<image>Detect."},
                                    {"role": "assistant", "content": text}],
                          extra=extra, response_token_ids=ids, finish_reason=finish)


def _tokens(text: str) -> list[str]:
    return text.split()


def test_samples_health_reads_the_completion_its_tokens_and_the_rows_ground_truth():
    samples = [
        _sample(GOOD, list(range(20))),
        _sample(CUT, [[1] * 16, [2] * 16], finish="length"),  # token ids per turn: 32 in all
        _sample("{\"objects\": []}", [], gt=()),  # no ids from the engine: the text is tokenized (2 words)
        _sample(GOOD, list(range(7)), gt=None),  # a summary-only row: not a detection completion
        _sample("objects: 1\n" + GOOD, list(range(25)), prefix="objects: 1"),
    ]
    assert samples[1].is_truncated  # ms-swift's own flag agrees with what is counted as truncated
    health = samples_health(samples, _tokens)
    assert health == H.RolloutHealth(completions=4, parsed=3, truncated=1, empty=1, pred_objects=2, duplicates=0,
                                     gt_objects=3, tokens=20 + 32 + 2 + 25)


class _Base:
    """Stands in for GRPOTrainer: records what reaches it."""

    def __init__(self, training: bool = True) -> None:
        self.model = SimpleNamespace(training=training)
        self.args = SimpleNamespace(device=torch.device("cpu"))
        self.template = SimpleNamespace(tokenizer=SimpleNamespace(encode=lambda t, add_special_tokens: t.split()))
        self.rolled: list[int] = []
        self.logged: list[dict] = []

    def _log_rollout(self, samples):
        self.rolled.append(len(samples))

    def log(self, logs, start_time=None):
        self.logged.append(dict(logs))


def _installed(training: bool):
    return install_rollout_health(_Base(training))  # the extension the GRPO recipe installs, on the stand-in base


def test_log_adds_the_windows_rates_once_then_starts_a_new_window():
    trainer = _installed(True)
    trainer._log_rollout([_sample(GOOD, list(range(20))), _sample(CUT, list(range(40)), finish="length")])
    trainer._log_rollout([_sample(GOOD, list(range(30)))])
    assert trainer.rolled == [2, 1]  # ms-swift's own _log_rollout still runs
    trainer.log({"loss": 1.0})
    trainer.log({"loss": 0.5})  # no rollout since: no rollout keys
    first, second = trainer.logged
    assert first["loss"] == 1.0 and first[H.COMPLETIONS] == 3
    assert first[H.PARSE_RATE] == pytest.approx(2 / 3) and first[H.TRUNCATED_RATE] == pytest.approx(1 / 3)
    assert first[H.MEAN_LENGTH] == pytest.approx(30.0) and first[H.PRED_GT_COUNT_RATIO] == pytest.approx(2 / 3)  # the cut one predicts none
    assert second == {"loss": 0.5}


def test_evaluation_rollouts_are_logged_with_the_eval_prefix_and_kept_apart():
    trainer = _installed(False)
    trainer._log_rollout([_sample("", [5], finish="stop")])
    trainer.log({"eval_loss": 2.0})
    assert trainer.logged[0]["eval_rollout/empty_rate"] == 1.0 and "rollout/empty_rate" not in trainer.logged[0]
    assert trainer._rollout_health["train"] == H.RolloutHealth()


def test_installing_twice_is_an_error():
    trainer = _installed(True)
    with pytest.raises(RuntimeError, match="already installed"):
        install_rollout_health(trainer)


def _worker(rank: int, init: str, results) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        trainer = _installed(True)
        # rank 0: one parsed completion; rank 1: three truncated ones (uneven ranks)
        samples = [_sample(GOOD, list(range(10)))] if rank == 0 else [
            _sample(CUT, list(range(20)), finish="length") for _ in range(3)]
        trainer._log_rollout(samples)
        trainer.log({"loss": 1.0})
        results[rank] = trainer.logged[0]
    except Exception:  # noqa: BLE001 - reported to the parent
        results[rank] = traceback.format_exc()
    finally:
        dist.destroy_process_group()


def test_two_ranks_log_the_rates_of_their_summed_counts(tmp_path):
    results, hung = run_two_ranks(_worker, tmp_path, 60)
    assert not hung
    for rank in (0, 1):
        logs = results[rank]
        assert isinstance(logs, dict), logs
        assert logs[H.COMPLETIONS] == 4
        assert logs[H.PARSE_RATE] == pytest.approx(0.25)  # sum over sum, not the mean of 1.0 and 0.0
        assert logs[H.TRUNCATED_RATE] == pytest.approx(0.75)
        assert logs[H.MEAN_LENGTH] == pytest.approx((10 + 60) / 4)
