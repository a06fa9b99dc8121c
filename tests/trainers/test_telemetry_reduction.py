"""Cross-rank reduction of per-group sums: token-weighted, never a mean of per-rank means."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from src.trainers.telemetry.reduction import (
    GroupLayout,
    all_reduce_sums,
    group_sums,
    metrics_from_sums,
    reduce_rank_sums,
)

LAYOUT = GroupLayout((("dataset", ("a", "b", "unknown")), ("token_type", ("desc", "coord", "structure"))))

# Uneven token counts: rank 0 has 1 token of dataset a, rank 1 has 3; rank 1 has no token of b.
RANK_TOKENS = {
    0: {"loss": [4.0, 1.0, 1.0], "correct": [0, 1, 1], "ds": [0, 1, 1], "tt": [0, 2, 2]},
    1: {"loss": [1.0, 1.0, 1.0, 2.0], "correct": [1, 1, 0, 1], "ds": [0, 0, 0, 2], "tt": [1, 1, 1, 2]},
}


def rank_table(rank: int) -> torch.Tensor:
    t = RANK_TOKENS[rank]
    loss, correct = torch.tensor(t["loss"]), torch.tensor(t["correct"], dtype=torch.bool)
    table = torch.zeros(len(LAYOUT), 3, dtype=torch.float64)
    ds_off, tt_off = LAYOUT.offset("dataset"), LAYOUT.offset("token_type")
    table[ds_off:ds_off + 3] += group_sums(3, torch.tensor(t["ds"]), loss, correct)
    table[tt_off:tt_off + 3] += group_sums(3, torch.tensor(t["tt"]), loss, correct)
    return table


def test_layout():
    assert len(LAYOUT) == 6 and LAYOUT.offset("token_type") == 3 and LAYOUT.size("dataset") == 3
    assert LAYOUT.rows[4] == ("token_type", "coord")


def test_group_sums_skips_negative_ids():
    table = group_sums(2, torch.tensor([0, -1, 1, 1]), torch.tensor([1.0, 9.0, 2.0, 4.0]),
                       torch.tensor([True, True, False, True]))
    assert table.tolist() == [[1.0, 1.0, 1.0], [6.0, 1.0, 2.0]]


def test_uneven_token_counts_reduce_to_the_token_mean_not_the_mean_of_means():
    total = reduce_rank_sums([rank_table(0), rank_table(1)])
    logs = metrics_from_sums(LAYOUT, total)
    # dataset a: tokens 4.0 (rank 0) and 1, 1, 1 (rank 1): 7 / 4, not (4 + 1) / 2
    assert logs["loss/dataset/a"] == pytest.approx(7 / 4)
    assert logs["loss/dataset/a"] != pytest.approx((4.0 + 1.0) / 2)
    assert logs["acc/dataset/a"] == pytest.approx(2 / 4)
    assert logs["tokens/dataset/a"] == 4
    assert logs["loss/dataset/b"] == pytest.approx(1.0) and logs["tokens/dataset/b"] == 2
    assert logs["loss/dataset/unknown"] == pytest.approx(2.0)
    assert logs["loss/token_type/coord"] == pytest.approx(1.0) and logs["acc/token_type/coord"] == pytest.approx(2 / 3)
    assert logs["loss/token_type/structure"] == pytest.approx(4.0 / 3)
    # the token-weighted mean over all groups of one family is the overall token mean
    all_loss = sum(RANK_TOKENS[0]["loss"] + RANK_TOKENS[1]["loss"]) / 7
    ds = sum(logs[f"loss/dataset/{n}"] * logs[f"tokens/dataset/{n}"] for n in ("a", "b", "unknown")) / 7
    assert ds == pytest.approx(all_loss)


def test_groups_without_tokens_are_not_logged_and_prefix():
    logs = metrics_from_sums(LAYOUT, rank_table(1), prefix="eval_")
    assert "eval_loss/dataset/b" not in logs and "eval_loss/token_type/desc" not in logs
    assert logs["eval_loss/dataset/a"] == pytest.approx(1.0)


def test_all_reduce_without_process_group_is_identity():
    t = rank_table(0)
    out = all_reduce_sums(t)
    assert torch.equal(out, t) and out is not t


def _worker(rank: int, port: int, out_path: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        reduced = all_reduce_sums(rank_table(rank))
        # a second log: rank 1 saw nothing at all, it still joins the same collective
        empty = all_reduce_sums(torch.zeros(len(LAYOUT), 3, dtype=torch.float64) if rank else rank_table(0))
        torch.save({"first": reduced, "second": empty}, f"{out_path}.{rank}")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_all_reduce_over_two_gloo_ranks(tmp_path):
    out = str(tmp_path / "reduced")
    mp.spawn(_worker, args=(_free_port(), out), nprocs=2, join=True)
    expected = reduce_rank_sums([rank_table(0), rank_table(1)])
    for rank in (0, 1):
        got = torch.load(f"{out}.{rank}")
        assert torch.equal(got["first"], expected)
        assert torch.equal(got["second"], rank_table(0))
