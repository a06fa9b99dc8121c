"""The stage2_ab logging window: one fixed-length vector per rank, reduced with declared reductions."""

from __future__ import annotations

import pytest

from src.stage2.metrics import B_RATIO_REALIZED, INVALID_ROLLOUT, N_DROP_INVALID, N_VALID_PRED, PACKED_WIDTH
from src.trainers.stage2_ab import LOSS_KEYS, Stage2Window, reduce_window


def _window(step: int, channel: str, loss: float, valid: int = 0, dropped: int = 0) -> Stage2Window:
    w = Stage2Window(last_step=step)
    w.steps[channel] += 1
    w.loss_sum[channel] += loss
    w.counts.n_valid_pred += valid
    w.counts.n_drop_invalid += dropped
    w.counts.rollouts += 2 if channel == "B" else 0
    return w


def test_every_rank_sends_the_same_length_whatever_it_saw():
    a, b, empty = _window(0, "A", 3.0), _window(1, "B", 2.0, valid=5, dropped=1), Stage2Window()
    assert len(a.vector(0.5)) == len(b.vector(0.5)) == len(empty.vector(0.5)) == PACKED_WIDTH + 4


def test_channel_b_counts_sum_over_ranks_and_losses_average_over_steps():
    out = reduce_window([_window(1, "B", 2.0, valid=3).vector(0.5), _window(1, "B", 4.0, valid=7, dropped=2).vector(0.5)])
    assert out[N_VALID_PRED] == 10 and out[N_DROP_INVALID] == 2 and out[INVALID_ROLLOUT] == 0
    assert out[LOSS_KEYS["B"]] == pytest.approx(3.0)
    assert LOSS_KEYS["A"] not in out
    assert out[B_RATIO_REALIZED] == 0.5


def test_channel_a_steps_still_report_the_counters_as_zero():
    out = reduce_window([_window(0, "A", 1.0).vector(0.5), _window(0, "A", 3.0).vector(0.5)])
    assert out[LOSS_KEYS["A"]] == pytest.approx(2.0)
    assert out[N_VALID_PRED] == 0 and out[B_RATIO_REALIZED] == 0.0


def test_ranks_that_disagree_on_the_schedule_are_an_error():
    with pytest.raises(ValueError, match="identical on every rank"):
        reduce_window([_window(0, "A", 1.0).vector(0.5), _window(1, "B", 1.0).vector(0.5)])
