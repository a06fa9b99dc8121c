"""Per-epoch fusion sampling schedule: a pure function of ``(seed, epoch, dataset specs)``.

Declared semantics (SPEC.md "Data"):
- a target with ``n`` records and ratio ``r`` yields ``quota(n, r)`` records per epoch: ``r == 1`` is
  every record exactly once; ``r < 1`` a without-replacement subset; ``r > 1`` full passes plus a
  without-replacement remainder;
- a source yields ``quota(total target quota, r)`` records: without replacement while possible,
  wrapping into further freshly shuffled passes when the quota exceeds its size;
- every per-dataset draw is a concatenation of independent permutations ("passes") truncated to the
  quota, so within a pass no record repeats and passes differ;
- the interleaved order of all draws is one more deterministic shuffle.
``quota(n, r) = round_half_up(n * r)`` computed on the decimal value of ``r`` (``1.15 x 10 = 12``, not
float's ``11.499...``). Randomness: numpy ``default_rng([seed, epoch, 1, crc32(name)])`` per dataset
(so adding a source does not change the targets' draws) and ``[seed, epoch, 2, 0]`` for the
interleave. No torch here.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import numpy as np

Role = Literal["target", "source"]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    length: int
    ratio: float = 1.0


def quota(length: int, ratio: float) -> int:
    """``round_half_up(length * ratio)`` in exact decimal arithmetic."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    r = Decimal(str(ratio))
    if not r.is_finite() or r < 0:
        raise ValueError(f"ratio must be a finite number >= 0, got {ratio}")
    return int((Decimal(int(length)) * r).to_integral_value(rounding=ROUND_HALF_UP))


def _check_specs(targets: Sequence[DatasetSpec], sources: Sequence[DatasetSpec]) -> None:
    if not targets:
        raise ValueError("a fusion schedule needs at least one target dataset")
    names = [s.name for s in (*targets, *sources)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"dataset names must be unique across targets and sources, repeated: {dup}")


def expected_counts(targets: Sequence[DatasetSpec], sources: Sequence[DatasetSpec] = ()) -> dict[str, int]:
    """Records per epoch for each dataset (targets first, then sources, in the given order)."""
    _check_specs(targets, sources)
    counts = {t.name: quota(t.length, t.ratio) for t in targets}
    total = sum(counts.values())
    for s in sources:
        q = quota(total, s.ratio)
        if q > 0 and s.length == 0:
            raise ValueError(f"source {s.name!r} is empty but its quota is {q}")
        counts[s.name] = q
    return counts


def draw_passes(length: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` indices in ``[0, length)``: shuffled full passes, the last one truncated."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if length <= 0:
        raise ValueError(f"cannot draw {count} records from an empty dataset")
    passes = -(-count // length)
    out = np.concatenate([rng.permutation(length) for _ in range(passes)])[:count]
    return out.astype(np.int64, copy=False)


def _dataset_rng(seed: int, epoch: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, 1, zlib.crc32(name.encode("utf-8"))])


@dataclass(frozen=True)
class FusionSchedule:
    seed: int
    epoch: int
    names: tuple[str, ...]  # dataset_index -> name (targets first, then sources)
    roles: tuple[Role, ...]
    pairs: np.ndarray  # (N, 2) int64: (dataset_index, record_index), in sampling order
    expected: Mapping[str, int]

    def __len__(self) -> int:
        return int(self.pairs.shape[0])

    def counts(self) -> dict[str, int]:
        """Records per dataset in this schedule (equals ``expected`` by construction)."""
        per = (
            np.bincount(self.pairs[:, 0], minlength=len(self.names))
            if len(self)
            else np.zeros(len(self.names))
        )
        return {n: int(c) for n, c in zip(self.names, per)}


def build_schedule(
    seed: int, epoch: int, targets: Sequence[DatasetSpec], sources: Sequence[DatasetSpec] = ()
) -> FusionSchedule:
    """The epoch's sampling order; same ``(seed, epoch, specs)`` -> identical schedule."""
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be >= 0, got seed={seed}, epoch={epoch}")
    counts = expected_counts(targets, sources)
    specs = (*targets, *sources)
    roles: tuple[Role, ...] = ("target",) * len(targets) + ("source",) * len(sources)
    chunks = []
    for d, spec in enumerate(specs):
        rec = draw_passes(spec.length, counts[spec.name], _dataset_rng(seed, epoch, spec.name))
        chunks.append(np.stack([np.full(rec.shape[0], d, dtype=np.int64), rec], axis=1))
    pairs = np.concatenate(chunks, axis=0) if chunks else np.zeros((0, 2), dtype=np.int64)
    order = np.random.default_rng([seed, epoch, 2, 0]).permutation(pairs.shape[0])
    pairs = np.ascontiguousarray(pairs[order])
    pairs.setflags(write=False)
    return FusionSchedule(
        seed=seed,
        epoch=epoch,
        names=tuple(s.name for s in specs),
        roles=roles,
        pairs=pairs,
        expected=dict(counts),
    )
