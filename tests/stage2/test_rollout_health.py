"""Rollout health of hand-built completions: every count and rate pinned, and the cross-rank reduction."""

from __future__ import annotations

import pytest

from src.datasets.records import DenseObject
from src.stage2 import metrics as M
from src.stage2 import rollout_health as H

W = HGT = 100.0  # norm1000 bins over a 100 px image

DUPLICATES = ('{"objects": [{"desc": "red box", "bbox_2d": [100, 100, 500, 500]}, '
              '{"desc": "Red  Box", "bbox_2d": [102, 101, 500, 499]}, '   # same desc, IoU 0.99: a duplicate
              '{"desc": "blue box", "bbox_2d": [100, 100, 500, 500]}, '   # same box, other desc: not one
              '{"desc": "red box", "bbox_2d": [600, 600, 900, 900]}]}')  # same desc, elsewhere: not one
TRUNCATED = '{"objects": [{"desc": "red box", "bbox_2d": [100, 100, 500, 500]}, {"desc": "red b'
EMPTY_TEXT = "  <|im_end|>"
EMPTY_DOCUMENT = '{"objects": []}'
NOT_COORDJSON = "Sure! There is a red box at 10, 10."

# (text, tokens, finish_reason, ground-truth objects)
BATCH = [(DUPLICATES, 60, "stop", 2), (TRUNCATED, 64, "length", 2), (EMPTY_TEXT, 1, "stop", 2),
         (EMPTY_DOCUMENT, 6, "stop", 2), (NOT_COORDJSON, 12, "stop", 2)]


def _health(text: str, tokens: int, finish: str | None, n_gt: int, prefix: str | None = None) -> H.RolloutHealth:
    parse = H.parse_completion(text, "norm1000", W, HGT, prefix)
    return H.completion_health(parse, text, n_tokens=tokens, finish_reason=finish, n_gt=n_gt, prefix=prefix)


def test_each_hand_built_completion_counts_what_it_is():
    got = [_health(*c) for c in BATCH]
    assert got[0] == H.RolloutHealth(completions=1, parsed=1, pred_objects=4, duplicates=1, gt_objects=2, tokens=60)
    # cut at the budget inside the second object: the first is kept, the document is not valid
    assert got[1] == H.RolloutHealth(completions=1, truncated=1, pred_objects=1, gt_objects=2, tokens=64)
    assert got[2] == H.RolloutHealth(completions=1, empty=1, gt_objects=2, tokens=1)
    assert got[3] == H.RolloutHealth(completions=1, parsed=1, empty=1, gt_objects=2, tokens=6)
    # chatter is a parse failure, not an empty answer
    assert got[4] == H.RolloutHealth(completions=1, gt_objects=2, tokens=12)


def test_batch_rates_are_ratios_of_the_summed_counts():
    total = sum((_health(*c) for c in BATCH), H.RolloutHealth())
    assert total.values() == {
        H.PARSE_RATE: pytest.approx(2 / 5), H.TRUNCATED_RATE: pytest.approx(1 / 5), H.EMPTY_RATE: pytest.approx(2 / 5),
        H.DUPLICATE_RATE: pytest.approx(1 / 5), H.PRED_GT_COUNT_RATIO: pytest.approx(5 / 10),
        H.MEAN_LENGTH: pytest.approx(143 / 5), H.COMPLETIONS: 5.0}


def test_rates_without_a_denominator_are_left_out():
    assert H.RolloutHealth().values() == {H.COMPLETIONS: 0.0}
    nothing_predicted = _health(EMPTY_DOCUMENT, 6, "stop", 0)  # an image without objects, answered empty
    assert set(nothing_predicted.values()) == {H.PARSE_RATE, H.TRUNCATED_RATE, H.EMPTY_RATE, H.MEAN_LENGTH,
                                               H.COMPLETIONS}


def test_duplicates_need_the_same_desc_and_iou_of_at_least_0_9():
    def box(desc, y2):
        return DenseObject(desc, "bbox_2d", (0.0, 0.0, 100.0, y2))

    assert H.duplicate_count([box("a", 100), box("a", 90)]) == 1  # IoU exactly 0.9
    assert H.duplicate_count([box("a", 100), box("a", 89)]) == 0  # IoU 0.89
    assert H.duplicate_count([box("a", 100), box("b", 100)]) == 0
    assert H.duplicate_count([box("a", 100), box("a", 100), box("a", 100)]) == 2  # each repeat counts once
    line = DenseObject("a", "line", (0.0, 0.0, 100.0, 100.0))
    assert H.duplicate_count([box("a", 100), line]) == 0  # other geometry kinds never overlap
    assert H.duplicate_count([]) == 0


def test_the_assistant_prefix_is_not_an_answer():
    prefix = "objects: 2"
    assert _health(prefix + "\n<|im_end|>", 5, "stop", 2, prefix).empty == 1
    kept = _health(prefix + "\n" + DUPLICATES, 70, "stop", 2, prefix)
    assert (kept.parsed, kept.empty, kept.pred_objects) == (1, 0, 4)
    assert H.answer_body(" x <|im_end|><|endoftext|>\n") == "x"


def test_ranks_sum_counts_before_taking_ratios():
    rank0 = _health(DUPLICATES, 60, "stop", 2)  # 1 completion, parsed
    rank1 = sum((_health(NOT_COORDJSON, 10, "stop", 2) for _ in range(3)), H.RolloutHealth())
    total = H.sum_vectors([rank0.vector(), rank1.vector()])
    assert total == rank0 + rank1
    assert total.values()[H.PARSE_RATE] == 0.25  # not the mean of the ranks' rates (0.5)
    with pytest.raises(ValueError, match="8 values"):
        H.RolloutHealth.from_vector([1.0, 2.0])
    with pytest.raises(ValueError, match=">= 0"):
        H.completion_health(H.parse_completion("", "norm1000", W, HGT), "", n_tokens=-1, finish_reason=None, n_gt=0)


def test_stage2_channel_b_logs_the_same_keys_reduced_over_ranks():
    """Channel B's counts carry the health; the declared reductions give the same values as summing counts."""
    per_rank, healths = [], []
    for completions in (BATCH[:2], BATCH[2:], []):  # the third rank saw no Channel-B sample
        counts = M.ChannelBCounts()
        for c in completions:
            counts.health += _health(*c)
        healths.append(counts.health)
        per_rank.append(counts.values())
    out = M.reduce_packed([M.pack(v) for v in per_rank])
    expected = sum(healths, H.RolloutHealth()).values()
    assert {k: out[k] for k in expected} == pytest.approx(expected)
    for key, _, _, _ in H.HEALTH_RATES:
        assert M.SPECS[key].reduction == "ratio"
    assert M.SPECS[H.COMPLETIONS].reduction == "sum"
    empty = M.reduce_packed([M.pack(M.ChannelBCounts().values())])  # a Channel-A window
    assert empty[H.COMPLETIONS] == 0 and H.PARSE_RATE not in empty
