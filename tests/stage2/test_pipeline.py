"""Rollout text -> parse -> strict filter -> match -> target, end to end; two simulated ranks."""

from __future__ import annotations

from src.datasets.records import DenseObject
from src.stage2 import metrics as M
from src.stage2.pipeline import ChannelBPolicy, channel_b_sample
from src.stage2.target_tokens import IGNORE_INDEX, tokenize_target

W, H = 999, 999
GTS = [DenseObject("cat", "bbox_2d", (10, 10, 100, 100)), DenseObject("dog", "bbox_2d", (200, 50, 300, 150))]
POLICY = ChannelBPolicy(coord_format="coord_tokens", iou_threshold=0.5)


def c(*bins):
    return ", ".join(f"<|coord_{b}|>" for b in bins)


ROLLOUT = (f'{{"objects": [{{"desc": "ghost", "bbox_2d": [{c(500, 500, 600, 600)}]}}, '
           f'{{"desc": "cat", "bbox_2d": [{c(12, 11, 98, 99)}]}}, '
           f'{{"desc": "flat", "bbox_2d": [{c(5, 5, 5, 9)}]}}, {{"desc": "dog", "bbox_2d": [<|coord_2')


def test_rollout_to_target():
    s = channel_b_sample(ROLLOUT, GTS, width=W, height=H, policy=POLICY)
    assert s.filtered.n_valid_pred == 2 and s.filtered.n_drop_invalid == 2  # degenerate + truncated
    assert not s.filtered.invalid_rollout
    assert [(o.kind, o.pred_index, o.gt_index) for o in s.target.objects] == [
        ("fp", 0, None), ("matched", 1, 0), ("fn", None, 1)]
    assert "flat" not in s.target.text


def test_invalid_rollout_falls_back_to_all_ground_truth(coord_tokenizer):
    s = channel_b_sample("I cannot see anything", GTS, width=W, height=H, policy=POLICY)
    assert s.filtered.invalid_rollout and s.target.rollout_invalid
    assert [o.kind for o in s.target.objects] == ["fn", "fn"]
    tokens = tokenize_target(s.target, coord_tokenizer)
    assert IGNORE_INDEX not in tokens.labels


def test_assistant_prefix_is_stripped_from_the_rollout_and_rewritten():
    s = channel_b_sample("<TASK=det>\n" + ROLLOUT, GTS, width=W, height=H, policy=POLICY, prefix="<TASK=det>")
    assert s.filtered.n_valid_pred == 2
    assert s.target.text.startswith('<TASK=det>\n{"objects": [')


def test_two_ranks_with_different_valid_counts_reduce_identically():
    rank_texts = [[ROLLOUT, '{"objects": []}'], ["garbage"]]
    packed = []
    for texts in rank_texts:
        counts = M.ChannelBCounts()
        for text in texts:
            s = channel_b_sample(text, GTS, width=W, height=H, policy=POLICY)
            counts.add_sample(s.filtered, s.match)
        counts.add_rollout(1.0, 64 * len(texts))
        packed.append(M.pack({**counts.values(), **M.schedule_values(1, 0.5)}))
    assert len(packed[0]) == len(packed[1])
    out = M.reduce_packed(packed)
    assert out[M.N_VALID_PRED] == 2 and out[M.INVALID_ROLLOUT] == 1 and out[M.ROLLOUTS] == 3
    assert out[M.FN] == 1 + 2 + 2 and out[M.MATCHED] == 1
    assert out[M.B_RATIO_REALIZED] == 0.5
