"""Packing: labels, attention_mask and m-RoPE position_ids stay aligned segment by segment; the
first-fit-decreasing planner packs every sample exactly once within capacity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from support.packing import (
    IGNORE_INDEX,
    IMAGE_PAD_TOKEN_ID,
    block_causal_mask,
    collate_packed,
    first_fit_decreasing,
    normalize_positions,
    pack_segments,
    plan_packing,
    swift_position_ids,
)


def fake_sample(rng: np.random.Generator, length: int, with_image: bool) -> dict:
    """An encoded sample shaped like ms-swift's Qwen3-VL output: a prompt (labels -100), maybe an image
    block whose m-RoPE rows differ (t, h, w grid), then a supervised answer."""
    ids = rng.integers(0, 151000, length)
    labels = np.full(length, IGNORE_INDEX)
    answer = int(rng.integers(1, max(2, length // 2)))
    labels[length - answer :] = ids[length - answer :]
    pos = np.tile(np.arange(length), (3, 1))
    if with_image and length >= 12:
        start, gh, gw = 2, 2, int(rng.integers(1, (length - 6) // 2 + 1))
        n = gh * gw
        ids[start : start + n] = IMAGE_PAD_TOKEN_ID
        labels[start : start + n] = IGNORE_INDEX
        hh, ww = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        pos[0, start : start + n] = start
        pos[1, start : start + n] = start + hh.reshape(-1)
        pos[2, start : start + n] = start + ww.reshape(-1)
        nxt = start + max(gh, gw)
        pos[:, start + n :] = np.arange(nxt, nxt + length - start - n)
    return {"input_ids": ids.tolist(), "labels": labels.tolist(), "position_ids": torch.as_tensor(pos)}


@pytest.mark.parametrize("seed", range(25))
def test_alignment_holds_for_every_token(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 8))
    lens = rng.integers(1, 300, k).tolist()
    samples = [fake_sample(rng, n, bool(rng.random() < 0.6)) for n in lens]
    total = sum(lens)
    pad_to = total + int(rng.integers(0, 50))
    row = pack_segments(samples, pad_to=pad_to, pad_token_id=151643)
    T = pad_to
    for key in ("input_ids", "labels", "attention_mask", "text_position_ids", "segment_ids"):
        assert row[key].shape == (T,), key
    assert row["position_ids"].shape == (3, T)
    assert row["seq_lens"] == lens
    off = 0
    for k_, (s, n) in enumerate(zip(samples, lens), start=1):
        sl = slice(off, off + n)
        assert row["input_ids"][sl].tolist() == s["input_ids"]
        want_labels = list(s["labels"])
        want_labels[0] = IGNORE_INDEX
        assert row["labels"][sl].tolist() == want_labels
        assert row["position_ids"][:, sl].tolist() == s["position_ids"].tolist()  # positions restart
        assert row["text_position_ids"][sl].tolist() == list(range(n))
        assert row["attention_mask"][sl].tolist() == [1] * n
        assert row["segment_ids"][sl].tolist() == [k_] * n
        off += n
    pad = slice(total, T)
    assert row["input_ids"][pad].tolist() == [151643] * (T - total)
    assert row["labels"][pad].tolist() == [IGNORE_INDEX] * (T - total)
    assert row["attention_mask"][pad].tolist() == [0] * (T - total)
    assert row["segment_ids"][pad].tolist() == [0] * (T - total)
    assert row["cu_seq_lens"].tolist() == np.cumsum([0, *lens, *([T - total] if T > total else [])]).tolist()
    # no supervision across a boundary: after the causal shift (token t predicts label t + 1) every
    # supervised pair lies inside one segment
    seg = row["segment_ids"]
    target = torch.roll(row["labels"], -1)
    target[-1] = IGNORE_INDEX
    sup = target != IGNORE_INDEX
    assert torch.equal(seg[:-1][sup[:-1]], seg[1:][sup[:-1]])
    assert (seg[sup] > 0).all()
    # segments are exactly the runs of text position 0 (how ms-swift / flash-attn varlen see them)
    starts = torch.nonzero(row["text_position_ids"] == 0).flatten().tolist()
    assert starts == row["cu_seq_lens"][:-1].tolist()


def test_cu_seq_lens_match_ms_swift():
    import swift.utils.transformers_utils as swift_utils

    rng = np.random.default_rng(0)
    samples = [fake_sample(rng, n, True) for n in (40, 7, 120)]
    row = pack_segments(samples, pad_to=200)
    ref = swift_utils.get_packed_seq_params(row["text_position_ids"][None])
    assert torch.equal(ref["cu_seq_lens_q"], row["cu_seq_lens"])
    assert swift_position_ids(row).shape == (4, 1, 200)


def test_block_causal_mask_isolates_segments():
    row = pack_segments(
        [{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}, {"input_ids": [4, 5], "labels": [4, 5]}], pad_to=7
    )
    m = block_causal_mask(row["segment_ids"])
    want = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 1, 0, 0, 0],
            [0, 0, 0, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(m, want)
    assert row["labels"].tolist() == [-100, 2, 3, -100, 5, -100, -100]


def test_position_id_layouts():
    pos3 = torch.arange(15).reshape(3, 5)
    text, mrope = normalize_positions(pos3, 5)
    assert text.tolist() == [0, 1, 2, 3, 4] and torch.equal(mrope, pos3)
    pos4 = torch.cat([torch.arange(5)[None] * 10, pos3])[:, None, :]  # ms-swift [4, 1, L]
    text, mrope = normalize_positions(pos4, 5)
    assert text.tolist() == [0, 10, 20, 30, 40] and torch.equal(mrope, pos3)
    text, mrope = normalize_positions(None, 4, torch.tensor([1, 2, 3, 4]))
    assert mrope.tolist() == [[0, 1, 2, 3]] * 3
    with pytest.raises(ValueError, match="needs its m-RoPE"):
        normalize_positions(None, 2, torch.tensor([1, IMAGE_PAD_TOKEN_ID]))
    with pytest.raises(ValueError, match=r"\[3, 5\] or \[4, 5\]"):
        normalize_positions(torch.zeros(2, 5), 5)


def test_pack_errors_and_multimodal_concat():
    with pytest.raises(ValueError, match="exceeds pad_to"):
        pack_segments([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}], pad_to=2)
    with pytest.raises(ValueError, match="labels"):
        pack_segments([{"input_ids": [1, 2, 3], "labels": [1, 2]}])
    with pytest.raises(ValueError, match="zero samples"):
        pack_segments([])
    a = {
        "input_ids": [1, 2],
        "labels": [1, 2],
        "pixel_values": torch.ones(4, 6),
        "image_grid_thw": torch.tensor([[1, 2, 2]]),
        "loss_scale": [1.0, 1.0],
    }
    b = {
        "input_ids": [3],
        "labels": [3],
        "pixel_values": torch.zeros(8, 6),
        "image_grid_thw": torch.tensor([[1, 2, 4]]),
        "loss_scale": [2.0],
    }
    row = pack_segments([a, b], pad_to=4)
    assert row["pixel_values"].shape == (12, 6) and row["pixel_values"][:4].eq(1).all()
    assert row["image_grid_thw"].tolist() == [[1, 2, 2], [1, 2, 4]]
    assert row["loss_scale"].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_collate_packed():
    rows = [
        pack_segments([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}], pad_to=5),
        pack_segments([{"input_ids": [4, 5], "labels": [4, 5]}, {"input_ids": [6], "labels": [6]}], pad_to=5),
    ]
    batch = collate_packed(rows)
    assert batch["input_ids"].shape == (2, 5) and batch["position_ids"].shape == (3, 2, 5)
    assert batch["text_position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 0, 0, 1]]
    with pytest.raises(ValueError, match="share one length"):
        collate_packed([rows[0], pack_segments([{"input_ids": [1], "labels": [1]}])])


# ------------------------------------------------------------------------------------------ planner


def test_ffd_pinned_example():
    assert first_fit_decreasing([5, 4, 3, 3, 2, 2, 1], 8) == [[0, 2], [1, 3, 6], [4, 5]]
    assert first_fit_decreasing([], 8) == []
    with pytest.raises(ValueError, match="outside"):
        first_fit_decreasing([3, 9], 8)
    with pytest.raises(ValueError, match="outside"):
        first_fit_decreasing([0], 8)


@pytest.mark.parametrize("seed", range(10))
def test_ffd_packs_every_sample_once_within_capacity(seed):
    rng = np.random.default_rng(seed)
    cap = 4096
    lens = np.clip(rng.lognormal(6.5, 0.9, 500).astype(int), 1, cap).tolist()
    plan = plan_packing(lens, cap)
    flat = sorted(i for b in plan.bins for i in b)
    assert flat == list(range(len(lens)))
    assert all(sum(lens[i] for i in b) <= cap for b in plan.bins)
    # any first-fit packing leaves at most one row at most half full
    fill = sorted(sum(lens[i] for i in b) for b in plan.bins)
    assert len(fill) < 2 or fill[1] > cap / 2
    assert len(plan.bins) <= math.ceil(2 * sum(lens) / cap)
    assert plan.efficiency == pytest.approx(sum(lens) / (len(plan.bins) * cap))
    assert plan.ratio_to_bound == pytest.approx(plan.lower_bound_bins / len(plan.bins))
    assert 0 < plan.efficiency <= plan.bound_efficiency <= 1


def test_ffd_matches_a_reference_implementation():
    rng = np.random.default_rng(42)
    lens = rng.integers(1, 100, 300).tolist()
    cap = 128
    order = sorted(range(len(lens)), key=lambda i: (-lens[i], i))
    bins, free = [], []
    for i in order:  # quadratic textbook first-fit-decreasing
        for b, f in enumerate(free):
            if f >= lens[i]:
                bins[b].append(i)
                free[b] -= lens[i]
                break
        else:
            bins.append([i])
            free.append(cap - lens[i])
    assert first_fit_decreasing(lens, cap) == [sorted(b) for b in bins]


def test_plan_feeds_pack_segments():
    rng = np.random.default_rng(1)
    lens = rng.integers(5, 200, 40).tolist()
    samples = [fake_sample(rng, n, True) for n in lens]
    plan = plan_packing(lens, 512)
    rows = [pack_segments([samples[i] for i in b], pad_to=512) for b in plan.bins]
    batch = collate_packed(rows)
    assert int(batch["attention_mask"].sum()) == sum(lens)
    assert int(batch["attention_mask"].sum()) / batch["attention_mask"].numel() == pytest.approx(
        plan.efficiency
    )


# ------------------------------------------------------------------------------- dtypes and messages


def test_packed_rows_have_the_dtypes_the_model_and_flash_attention_expect():
    a = {"input_ids": np.array([1, 2, 3], dtype=np.int32), "labels": [1, 2, 3],
         "loss_scale": np.array([1.0, 0.5, 1.0], dtype=np.float64)}
    b = {"input_ids": torch.tensor([4, 5], dtype=torch.int16), "labels": None, "loss_scale": [1.0, 1.0]}
    row = pack_segments([a, b], pad_to=8)
    ints = ("input_ids", "labels", "attention_mask", "position_ids", "text_position_ids", "segment_ids")
    assert {k: row[k].dtype for k in ints} == dict.fromkeys(ints, torch.int64)
    assert row["cu_seq_lens"].dtype == torch.int32 and row["cu_seq_lens"].tolist() == [0, 3, 5, 8]
    assert row["loss_scale"].dtype == torch.float32
    assert row["input_ids"].tolist() == [1, 2, 3, 4, 5, 0, 0, 0]  # default pad id 0
    assert row["segment_ids"].tolist() == [1, 1, 1, 2, 2, 0, 0, 0]
    assert row["attention_mask"].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert row["labels"].tolist() == [IGNORE_INDEX, 2, 3] + [IGNORE_INDEX] * 5
    assert swift_position_ids(row).shape == (4, 1, 8)
    assert normalize_positions(None, 4)[0].dtype == torch.int64
    assert normalize_positions(torch.zeros(3, 4, dtype=torch.int32), 4)[0].dtype == torch.int64


def test_packing_errors_name_the_sample():
    good = {"input_ids": [1, 2], "labels": [1, 2]}
    with pytest.raises(ValueError, match=r"^cannot pack zero samples$"):
        pack_segments([])
    with pytest.raises(ValueError, match=r"^sample 1 has no tokens$"):
        pack_segments([good, {"input_ids": [], "labels": []}])
    with pytest.raises(ValueError, match=r"^sample 1: 1 labels for 2 input_ids$"):
        pack_segments([good, {"input_ids": [3, 4], "labels": [3]}])
    with pytest.raises(ValueError, match=r"^a sample with image/video tokens needs its m-RoPE position_ids"):
        normalize_positions(None, 2, torch.tensor([IMAGE_PAD_TOKEN_ID, 5]))
    with pytest.raises(ValueError, match=r"^position_ids with a batch dim must have batch size 1, got \(3, 2, 5\)$"):
        normalize_positions(torch.zeros(3, 2, 5), 5)
    with pytest.raises(ValueError, match=r"^capacity must be positive, got 0$"):
        first_fit_decreasing([1], 0)


def test_collate_packed_stacks_loss_scale_and_concatenates_images():
    def sample(ids, n_patches):
        return {"input_ids": ids, "labels": ids, "loss_scale": [1.0] * len(ids),
                "pixel_values": torch.full((n_patches, 6), float(ids[0])),
                "image_grid_thw": torch.tensor([[1, 2, n_patches // 2]])}

    rows = [pack_segments([sample([1, 2], 4)], pad_to=4), pack_segments([sample([3], 2), sample([4], 8)], pad_to=4)]
    batch = collate_packed(rows)
    assert batch["loss_scale"].shape == (2, 4) and batch["loss_scale"].tolist() == [[0, 1, 0, 0], [0, 0, 0, 0]]
    assert batch["pixel_values"].shape == (14, 6)
    assert batch["pixel_values"][:, 0].tolist() == [1.0] * 4 + [3.0] * 2 + [4.0] * 8  # row order, then sample order
    assert batch["image_grid_thw"].tolist() == [[1, 2, 2], [1, 2, 1], [1, 2, 4]]
    plain = collate_packed([pack_segments([{"input_ids": [1], "labels": [1]}], pad_to=2)] * 2)
    assert "loss_scale" not in plain and "pixel_values" not in plain


def test_ffd_capacity_one_and_exact_fits():
    assert first_fit_decreasing([1, 1, 1], 1) == [[0], [1], [2]]
    assert first_fit_decreasing([3, 2, 1, 4], 5) == [[2, 3], [0, 1]]  # 4 opens row 0, 3 row 1, 2 joins 3, 1 joins 4
    assert first_fit_decreasing([5] * 5, 5) == [[0], [1], [2], [3], [4]]  # a power-of-two tree boundary
    assert first_fit_decreasing([2, 3, 2, 3, 2], 5) == [[0, 1], [2, 3], [4]]
