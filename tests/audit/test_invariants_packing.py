"""Invariant packing.alignment: labels / attention_mask / position_ids stay aligned under packing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import packing as P
from support.invariants import check_packed_alignment


def random_sample(rng: np.random.Generator, n: int, with_image: bool) -> dict:
    ids = rng.integers(0, 151000, n)
    labels = np.where(rng.random(n) < 0.5, ids, P.IGNORE_INDEX)
    pos = None
    if with_image and n >= 8:
        ids[2:6] = P.IMAGE_PAD_TOKEN_ID
        base = np.tile(np.arange(n), (3, 1))
        base[1, 2:6] = [2, 2, 3, 3]
        base[2, 2:6] = [2, 3, 2, 3]
        pos = torch.as_tensor(base) if rng.random() < 0.5 else torch.as_tensor(
            np.concatenate([np.arange(n)[None], base]))[:, None, :]
    return {"input_ids": ids.tolist(), "labels": labels.tolist(), "position_ids": pos}


@pytest.mark.parametrize("seed", range(12))
def test_random_packs_stay_aligned(seed: int) -> None:
    rng = np.random.default_rng(seed)
    samples = [random_sample(rng, int(rng.integers(1, 40)), bool(rng.random() < 0.6))
               for _ in range(int(rng.integers(1, 6)))]
    total = sum(len(s["input_ids"]) for s in samples)
    row = P.pack_segments(samples, pad_to=total + int(rng.integers(0, 7)), pad_token_id=7)
    check_packed_alignment(samples, row)


def test_planned_bins_pack_aligned() -> None:
    rng = np.random.default_rng(0)
    samples = [random_sample(rng, int(rng.integers(5, 60)), True) for _ in range(20)]
    plan = P.plan_packing([len(s["input_ids"]) for s in samples], 128)
    for b in plan.bins:
        chosen = [samples[i] for i in b]
        check_packed_alignment(chosen, P.pack_segments(chosen, pad_to=128))


def test_misaligned_input_already_raises() -> None:
    """The packing reference's own fail-fast: label/id length mismatch and missing m-RoPE."""
    with pytest.raises(ValueError, match="labels for"):
        P.pack_segments([{"input_ids": [1, 2, 3], "labels": [1, 2]}])
    with pytest.raises(ValueError, match="m-RoPE"):
        P.pack_segments([{"input_ids": [1, P.IMAGE_PAD_TOKEN_ID, 3], "labels": None}])


# ------------------------------------------------------------------------------------------- meta


def test_meta_shifted_labels_fail_naming_the_invariant(monkeypatch) -> None:
    real = P.pack_segments

    def broken(samples, **kw):  # forgets to mask each segment's first label
        row = real(samples, **kw)
        start = 0
        for s in samples:
            row["labels"][start] = int(torch.as_tensor(s["labels"]).reshape(-1)[0])
            start += len(s["input_ids"])
        return row

    monkeypatch.setattr(P, "pack_segments", broken)
    samples = [{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}]
    with pytest.raises(AssertionError, match=r"\[invariant packing\.alignment\] at support\.packing:"
                                             r"pack_segments segment 0 tokens \[0, 3\): labels misaligned"):
        check_packed_alignment(samples, P.pack_segments(samples))


def test_meta_positions_not_restarting_fail(monkeypatch) -> None:
    samples = [{"input_ids": [5, 6, 7], "labels": None}, {"input_ids": [8, 9], "labels": None}]
    row = P.pack_segments(samples)
    row["position_ids"] = torch.arange(5).expand(3, 5).clone()  # one running sequence: segments leak
    with pytest.raises(AssertionError, match=r"packing\.alignment.*segment 1.*m-RoPE position_ids"):
        check_packed_alignment(samples, row)
