"""Fusion dataset: the schedule and the epoch reach DataLoader workers (persistent ones included),
items carry their dataset name, realized counts are aggregated from workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from src.datasets.fusion_dataset import DATASET_NAME_KEY, FusionDataset, FusionMember, SampleContext


def records(prefix: str, n: int) -> list[dict]:
    return [{"id": f"{prefix}{i}"} for i in range(n)]


def make(seed: int = 5, **kw) -> FusionDataset:
    return FusionDataset(
        [FusionMember("a", records("a", 23)), FusionMember("b", records("b", 11), 2.0)],
        [FusionMember("s", records("s", 100), 0.5)],
        seed=seed,
        **kw,
    )


def probe(record, ctx: SampleContext):
    """Module-level (picklable under spawn): report what the worker saw."""
    return {
        "id": record["id"],
        "d": ctx.dataset_index,
        "r": ctx.record_index,
        "epoch": ctx.epoch,
        "pos": ctx.position,
        "progress": ctx.progress,
        "u": float(ctx.rng().random()),
    }


def identity_collate(batch):
    return batch


def main_process_view(ds: FusionDataset, epoch: int) -> list[tuple[int, int]]:
    return [(int(d), int(r)) for d, r in ds.schedule(epoch).pairs]


def test_quotas_and_items():
    ds = make()
    assert ds.expected_counts() == {"a": 23, "b": 22, "s": 23}  # round(0.5 * 45) = 23 (half up)
    assert len(ds) == 68
    items = [ds[i] for i in range(len(ds))]
    a = sorted(it["record_index"] for it in items if it[DATASET_NAME_KEY] == "a")
    assert a == list(range(23))  # ratio 1.0: each target record exactly once
    b = [it["record_index"] for it in items if it[DATASET_NAME_KEY] == "b"]
    assert sorted(b) == sorted(list(range(11)) * 2)
    s = [it["record_index"] for it in items if it[DATASET_NAME_KEY] == "s"]
    assert len(s) == 23 and len(set(s)) == 23  # a source with ratio 0.5 yields round(0.5 x targets)
    assert all(it["record"]["id"] == f"{it[DATASET_NAME_KEY]}{it['record_index']}" for it in items)
    assert ds.realized_counts() == ds.expected_counts()


def test_index_out_of_range_and_tuple_index():
    ds = make()
    with pytest.raises(IndexError):
        ds[len(ds)]
    ds.set_epoch(0)
    assert ds[(3, 7)]["record_index"] == main_process_view(ds, 3)[7][1]
    assert ds.epoch == 0


def _collect(loader: DataLoader) -> list[dict]:
    return [item for batch in loader for item in batch]


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_schedule_reaches_persistent_workers(context):
    ds = make(transform=probe)
    ds.set_progress(30, 120)
    loader = DataLoader(
        ds,
        batch_size=4,
        shuffle=False,
        num_workers=2,
        persistent_workers=True,
        collate_fn=identity_collate,
        multiprocessing_context=context,
    )
    seen = {}
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        items = _collect(loader)
        assert [(it["d"], it["r"]) for it in items] == main_process_view(ds, epoch)
        assert {it["epoch"] for it in items} == {epoch}
        assert {it["progress"] for it in items} == {0.25}
        seen[epoch] = [(it["d"], it["r"]) for it in items]
        # per-sample randomness is the same in workers as in the main process
        assert [it["u"] for it in items[:5]] == [probe({"id": ""}, _ctx(ds, epoch, p))["u"] for p in range(5)]
    assert seen[0] != seen[1]
    # counted in the workers, aggregated in the main process
    assert ds.realized_counts() == {k: 2 * v for k, v in ds.expected_counts().items()}
    ds.reset_realized_counts()
    assert set(ds.realized_counts().values()) == {0}
    del loader


def _ctx(ds: FusionDataset, epoch: int, position: int) -> SampleContext:
    d, r = (int(v) for v in ds.schedule(epoch).pairs[position])
    return SampleContext(ds.names[d], d, ds.roles[d], r, position, epoch, ds.seed, ds.progress)


def test_shuffling_sampler_keeps_quotas():
    ds = make()
    loader = DataLoader(
        ds,
        batch_size=8,
        shuffle=True,
        num_workers=2,
        collate_fn=identity_collate,
        generator=torch.Generator().manual_seed(0),
    )
    items = _collect(loader)
    assert ds.realized_counts() == ds.expected_counts()
    assert sorted((it["dataset_index"], it["record_index"]) for it in items) == sorted(
        main_process_view(ds, 0)
    )


def test_per_member_transform_overrides_default():
    def tag(name):
        return lambda rec, ctx: {"tag": name}

    ds = FusionDataset(
        [FusionMember("a", records("a", 3), transform=tag("own")), FusionMember("b", records("b", 3))],
        transform=tag("default"),
    )
    tags = {(ds[i][DATASET_NAME_KEY], ds[i]["tag"]) for i in range(len(ds))}
    assert tags == {("a", "own"), ("b", "default")}


def test_transform_must_return_a_mapping():
    ds = FusionDataset([FusionMember("a", records("a", 3))], transform=lambda rec, ctx: [rec])
    with pytest.raises(TypeError, match="mutable mapping"):
        ds[0]


def test_sample_rng_is_a_function_of_seed_epoch_position():
    ds = make(transform=probe)
    ds.set_epoch(2)
    first = [ds[i]["u"] for i in range(4)]
    assert first == [ds[i]["u"] for i in range(4)]
    ds.set_epoch(3)
    assert first != [ds[i]["u"] for i in range(4)]
    assert np.random.default_rng([5, 2, 3, 0]).random() == first[0]


def test_validation():
    with pytest.raises(ValueError, match="unique"):
        FusionDataset([FusionMember("a", [1]), FusionMember("a", [2])])
    with pytest.raises(ValueError):
        make().set_epoch(-1)
