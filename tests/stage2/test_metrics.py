"""Metric registry and the cross-rank reduction (sum, sum/sum, identical), with uneven ranks."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from src.stage2 import metrics as M
from src.stage2.matching import MatchPair, MatchResult
from src.stage2.strict_filter import StrictFilterResult


def reduce_metrics(per_rank) -> dict[str, float]:
    """Reduce the per-rank value dicts as a run does: ``pack`` each, then ``reduce_packed``."""
    return M.reduce_packed([M.pack(v) for v in per_rank])


def test_required_keys_and_their_reductions():
    assert M.SPECS["stage2_ab/b_ratio_realized"].reduction == "identical"
    for key in ("stage2_ab/channel_b/invalid_rollout", "stage2_ab/channel_b/strict_drop/N_valid_pred",
                "stage2_ab/channel_b/strict_drop/N_drop_invalid"):
        assert M.SPECS[key].reduction == "sum"
    assert M.SPECS[M.ROLLOUT_TOKENS_PER_S].reduction == "ratio"
    assert M.SPECS[M.ROLLOUT_SECONDS].reduction == "ratio"
    assert len(M.SPECS) == len(M.METRICS)
    assert M.PACKED_WIDTH == sum(2 if s.reduction == "ratio" else 1 for s in M.METRICS)


def _filtered(kept: int, dropped: Counter, invalid: bool = False) -> StrictFilterResult:
    return StrictFilterResult(tuple([None] * kept), tuple(range(kept)), dropped, invalid)  # type: ignore[list-item]


def _match(matched: int, fp: int, fn: int) -> MatchResult:
    return MatchResult(tuple(MatchPair(i, i, 1.0) for i in range(matched)),
                       tuple(range(matched, matched + fp)), tuple(range(matched, matched + fn)))


def _rank(samples, rollouts):
    counts = M.ChannelBCounts()
    for kept, dropped, invalid, m in samples:
        counts.add_sample(_filtered(kept, dropped, invalid), _match(*m))
    for seconds, tokens in rollouts:
        counts.add_rollout(seconds, tokens)
    return {**counts.values(), **M.schedule_values(3, 0.5)}


def test_uneven_ranks_reduce_to_sums_and_sum_over_sum():
    rank0 = _rank([(3, Counter(truncated=1), False, (2, 1, 1)), (5, Counter(), False, (5, 0, 0)),
                   (0, Counter(syntax=2), True, (0, 0, 4))], [(2.0, 300), (1.0, 100)])
    rank1 = _rank([(1, Counter(degenerate=1), False, (0, 1, 2))], [(4.0, 100)])
    rank2 = _rank([], [])  # saw no channel-B sample in this window: still sends a full vector
    assert len(M.pack(rank0)) == len(M.pack(rank2)) == M.PACKED_WIDTH
    out = reduce_metrics([rank0, rank1, rank2])
    assert out[M.N_VALID_PRED] == 9
    assert out[M.N_DROP_INVALID] == 4
    assert out[M.INVALID_ROLLOUT] == 1
    assert out[M.ROLLOUTS] == 4
    assert out[M.DROP_REASON_PREFIX + "syntax"] == 2 and out[M.DROP_REASON_PREFIX + "degenerate"] == 1
    assert (out[M.MATCHED], out[M.FP], out[M.FN]) == (7, 2, 7)
    assert out[M.INVALID_ROLLOUT_RATE] == 1 / 4  # not the mean of per-rank rates (1/3, 0, -)
    assert out[M.PRECISION] == 7 / 9 and out[M.RECALL] == 7 / 14
    assert out[M.ROLLOUT_TOKENS] == 500
    assert out[M.ROLLOUT_TOKENS_PER_S] == 500 / 7.0  # sum tokens / sum seconds, not mean of 200 and 25
    assert out[M.ROLLOUT_SECONDS] == 7.0 / 3
    assert out[M.B_RATIO_REALIZED] == 0.5 and out[M.CHANNEL_IS_B] == 1.0


def test_zero_denominators_are_omitted():
    out = reduce_metrics([_rank([], []), _rank([], [])])
    assert M.INVALID_ROLLOUT_RATE not in out and M.ROLLOUT_TOKENS_PER_S not in out
    assert out[M.N_VALID_PRED] == 0 and out[M.INVALID_ROLLOUT] == 0


def test_identical_metrics_must_agree():
    with pytest.raises(ValueError, match="identical on every rank"):
        reduce_metrics([{M.B_RATIO_REALIZED: 0.5}, {M.B_RATIO_REALIZED: 0.25}])
    with pytest.raises(ValueError, match="identical on every rank"):
        reduce_metrics([{M.B_RATIO_REALIZED: 0.5}, {}])
    assert M.B_RATIO_REALIZED not in reduce_metrics([{}, {}])


def test_pack_rejects_unknown_keys_and_wrong_shapes():
    with pytest.raises(KeyError, match="declare them"):
        M.pack({"stage2_ab/typo": 1})
    with pytest.raises(TypeError):
        M.pack({M.INVALID_ROLLOUT_RATE: 0.5})
    with pytest.raises(TypeError):
        M.pack({M.N_VALID_PRED: (1, 2)})
    with pytest.raises(ValueError, match="expected"):
        M.reduce_packed([[0.0]])
    with pytest.raises(ValueError):
        M.reduce_packed([])
    with pytest.raises(ValueError):
        M.ChannelBCounts().add_rollout(-1.0, 5)


def test_schedule_values_follow_the_schedule():
    assert M.schedule_values(0, 0.5) == {M.B_RATIO_REALIZED: 0.0, M.CHANNEL_IS_B: 0.0}
    assert M.schedule_values(1, 0.5) == {M.B_RATIO_REALIZED: 0.5, M.CHANNEL_IS_B: 1.0}
    assert M.schedule_values(99, 0.29)[M.B_RATIO_REALIZED] == 0.29


def test_reduction_of_one_rank_is_its_own_values():
    values = _rank([(2, Counter(truncated=1), False, (1, 1, 0))], [(0.5, 10)])
    out = reduce_metrics([values])
    assert out[M.N_VALID_PRED] == 2 and out[M.ROLLOUT_TOKENS_PER_S] == 20.0
    assert not any(math.isnan(v) for v in out.values())
