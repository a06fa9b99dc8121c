"""Invariant stage2.channel_b_masking: FP-neutral, FN injection, closure supervision (text and tokens)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
from support.invariants import check_channel_b_masking

from src.stage2 import targets as T
from src.stage2.pipeline import ChannelBPolicy, channel_b_sample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stage2"))
from stage2_cases import GTS, MATCH, PREDS, H, W

POLICIES = list(itertools.product(["coord_tokens", "norm1000", "pixel"], [True, False], [True, False],
                                  ["neutral", "drop"]))


@pytest.mark.parametrize("coord_format,fn_injection,closure,fp_policy", POLICIES)
def test_channel_b_target_masking(coord_format, fn_injection, closure, fp_policy) -> None:
    target = T.build_channel_b_target(PREDS, GTS, MATCH, width=W, height=H, coord_format=coord_format,
                                      fn_injection=fn_injection, closure_supervision=closure, fp_policy=fp_policy)
    check_channel_b_masking(target, n_gt=len(GTS), matched_gt=[p.gt for p in MATCH.pairs],
                            fp_policy=fp_policy, fn_injection=fn_injection, closure_supervision=closure)


ROLLOUTS = [
    ('{"objects": [{"desc": "ghost", "bbox_2d": [<|coord_500|>, <|coord_500|>, <|coord_600|>, <|coord_600|>]}, '
     '{"desc": "cat", "bbox_2d": [<|coord_12|>, <|coord_11|>, <|coord_98|>, <|coord_99|>]}]}'),
    '{"objects": [{"desc": "cat", "bbox_2d": [<|coord_10|>, <|coord_10|>, <|coord_100|>, <|coord_100|>]}',
    "not json at all",
    "",
]


@pytest.mark.parametrize("rollout", ROLLOUTS)
def test_end_to_end_channel_b_sample_masking(rollout) -> None:
    policy = ChannelBPolicy(coord_format="coord_tokens")
    sample = channel_b_sample(rollout, GTS, width=W, height=H, policy=policy)
    check_channel_b_masking(sample.target, n_gt=len(GTS), matched_gt=[p.gt for p in sample.match.pairs])


def test_token_level_fp_tokens_carry_no_loss(coord_tokenizer) -> None:
    from src.stage2.target_tokens import tokenize_target

    target = T.build_channel_b_target(PREDS, GTS, MATCH, width=W, height=H, coord_format="coord_tokens")
    toks = tokenize_target(target, coord_tokenizer)
    for obj in toks.objects:
        if obj.kind == "fp":
            assert not obj.loss_positions, \
                f"[invariant stage2.channel_b_masking] at src.stage2.target_tokens:tokenize_target: FP tokens " \
                f"{obj.loss_positions} carry loss"
        if obj.kind == "fn":
            assert obj.loss_positions, "[invariant stage2.channel_b_masking] FN object has no supervised token"
    assert toks.closure_positions and all(toks.labels[p] != -100 for p in toks.closure_positions)


# ------------------------------------------------------------------------------------------- meta


def test_meta_fp_with_loss_fails_naming_the_invariant(monkeypatch) -> None:
    real = T.build_channel_b_target

    def broken(*args, **kwargs):  # teaches the unmatched prediction
        t = real(*args, **kwargs)
        pieces = tuple(T.Piece(p.text, p.role, True, p.obj, p.target, p.fp_zone)
                       if p.obj is not None and t.objects[p.obj].kind == "fp" else p for p in t.pieces)
        return T.ChannelBTarget(pieces, t.objects, t.rollout_invalid)

    monkeypatch.setattr(T, "build_channel_b_target", broken)
    target = T.build_channel_b_target(PREDS, GTS, MATCH, width=W, height=H, coord_format="coord_tokens")
    with pytest.raises(AssertionError, match=r"\[invariant stage2\.channel_b_masking\] at src\.stage2\.targets:"
                                             r"build_channel_b_target piece \d+ .*FP-neutral violated"):
        check_channel_b_masking(target, n_gt=3, matched_gt=[0])


def test_meta_missing_fn_injection_fails(monkeypatch) -> None:
    target = T.build_channel_b_target(PREDS, GTS, MATCH, width=W, height=H, coord_format="coord_tokens",
                                      fn_injection=False)
    with pytest.raises(AssertionError, match=r"stage2\.channel_b_masking.*missed ground truth \[1, 2\] but "
                                             r"injected \[\] \(FN injection\)"):
        check_channel_b_masking(target, n_gt=3, matched_gt=[0], fn_injection=True)


def test_meta_closure_without_loss_fails() -> None:
    target = T.build_channel_b_target(PREDS, GTS, MATCH, width=W, height=H, coord_format="coord_tokens",
                                      closure_supervision=False)
    with pytest.raises(AssertionError, match=r"stage2\.channel_b_masking.*closure loss=False"):
        check_channel_b_masking(target, n_gt=3, matched_gt=[0], closure_supervision=True)
