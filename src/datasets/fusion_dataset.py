"""Fusion dataset: several record sequences sampled by the per-epoch :mod:`fusion_schedule`.

Epoch and training progress live in a shared-memory tensor, so ``set_epoch`` / ``set_progress`` in the
main process reach DataLoader workers, persistent ones included (fork or spawn: torch shares the
storage instead of copying it). ``__getitem__`` reads the epoch there on every call and derives the
schedule from ``(seed, epoch)`` (cached per process), so nothing depends on mutating a Python object
that workers copied once. An index may also be an ``(epoch, position)`` pair, for samplers that carry
the epoch themselves.

Realized counts are recorded where items are produced (in whichever process runs ``__getitem__``):
each process writes only its own row of a shared ``[max_workers + 1, n_datasets]`` tensor (row 0 =
the main process, row ``k + 1`` = worker ``k``), so there are no lost updates and the main process sums
the rows. They are per process group (per rank under DDP); reducing across ranks is the caller's job.

The per-sample work (augmentation, rendering, template encode) is injected: ``transform(record, ctx)``
returns a mutable mapping; the dataset stores the dataset name under ``DATASET_NAME_KEY`` in it.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from src.datasets.fusion_schedule import DatasetSpec, FusionSchedule, Role, build_schedule

DATASET_NAME_KEY = "dataset_name"
_EPOCH, _STEP, _TOTAL = 0, 1, 2


@dataclass(frozen=True)
class SampleContext:
    """What a transform knows about the sample it is producing."""

    dataset_name: str
    dataset_index: int
    role: Role
    record_index: int
    position: int  # index in the epoch's schedule
    epoch: int
    seed: int
    progress: float  # global_step / total_steps in [0, 1] (0 until set_progress is called)
    global_step: int = 0  # completed optimizer steps (the augmentation curriculum's position)
    total_steps: int = 0  # the run's total optimizer steps (0 until set_progress is called)

    def rng(self) -> np.random.Generator:
        """Per-sample generator, a pure function of ``(seed, epoch, position)``."""
        return np.random.default_rng([self.seed, self.epoch, 3, self.position])


Transform = Callable[[Any, SampleContext], MutableMapping[str, Any]]


@dataclass(frozen=True)
class FusionMember:
    """One dataset of the fusion: its records (anything with ``__len__``/``__getitem__``), its ratio
    and optionally its own transform (per-dataset prompts / augmentation flags)."""

    name: str
    records: Sequence[Any]
    ratio: float = 1.0
    transform: Transform | None = None


def _default_transform(record: Any, ctx: SampleContext) -> MutableMapping[str, Any]:
    return {"record": record, "dataset_index": ctx.dataset_index, "record_index": ctx.record_index}


class FusionDataset(Dataset):
    # what `custom.overlong` did to the run's records (set by the builder; the run manifest's `datasets.overlong`)
    overlong: dict[str, Any] | None = None

    def __init__(
        self,
        targets: Sequence[FusionMember],
        sources: Sequence[FusionMember] = (),
        *,
        seed: int = 0,
        transform: Transform | None = None,
        max_workers: int = 64,
    ) -> None:
        self.members: tuple[FusionMember, ...] = (*targets, *sources)
        self._targets = tuple(DatasetSpec(m.name, len(m.records), m.ratio) for m in targets)
        self._sources = tuple(DatasetSpec(m.name, len(m.records), m.ratio) for m in sources)
        self.seed = int(seed)
        self.transform = transform
        self.max_workers = int(max_workers)
        # Validates names/ratios and fixes the epoch length (it does not depend on the epoch).
        self._schedule_cache: dict[int, FusionSchedule] = {}
        first = self.schedule(0)
        self.names = first.names
        self.roles = first.roles
        self._expected = dict(first.expected)
        self._length = len(first)
        self._state = torch.zeros(3, dtype=torch.int64).share_memory_()
        self._realized = torch.zeros(self.max_workers + 1, len(self.names), dtype=torch.int64).share_memory_()

    # ----------------------------------------------------------------- epoch / progress (shared)
    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._state[_EPOCH] = int(epoch)

    @property
    def epoch(self) -> int:
        return int(self._state[_EPOCH])

    def set_progress(self, global_step: int, total_steps: int) -> None:
        self._state[_STEP] = int(global_step)
        self._state[_TOTAL] = int(total_steps)

    @property
    def progress(self) -> float:
        step, total = int(self._state[_STEP]), int(self._state[_TOTAL])
        return 0.0 if total <= 0 else min(1.0, max(0.0, step / total))

    # ----------------------------------------------------------------- schedule and counts
    def schedule(self, epoch: int | None = None) -> FusionSchedule:
        e = self.epoch if epoch is None else int(epoch)
        sched = self._schedule_cache.get(e)
        if sched is None:
            sched = build_schedule(self.seed, e, self._targets, self._sources)
            self._schedule_cache = {e: sched}  # keep one epoch per process
        return sched

    def expected_counts(self) -> dict[str, int]:
        """Records per dataset per epoch (for the run manifest)."""
        return dict(self._expected)

    def realized_counts(self) -> dict[str, int]:
        """Items produced so far, per dataset, summed over the main process and every worker."""
        total = self._realized.sum(dim=0)
        return {n: int(c) for n, c in zip(self.names, total)}

    def reset_realized_counts(self) -> None:
        self._realized.zero_()

    # ----------------------------------------------------------------- Dataset protocol
    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int | tuple[int, int]) -> MutableMapping[str, Any]:
        if isinstance(index, tuple):
            epoch, position = int(index[0]), int(index[1])
        else:
            epoch, position = self.epoch, int(index)
        if not -self._length <= position < self._length:
            raise IndexError(f"position {position} out of range for {self._length} scheduled records")
        position %= self._length
        sched = self.schedule(epoch)
        d, r = (int(v) for v in sched.pairs[position])
        member = self.members[d]
        ctx = SampleContext(
            dataset_name=member.name,
            dataset_index=d,
            role=self.roles[d],
            record_index=r,
            position=position,
            epoch=epoch,
            seed=self.seed,
            progress=self.progress,
            global_step=int(self._state[_STEP]),
            total_steps=int(self._state[_TOTAL]),
        )
        transform = member.transform or self.transform or _default_transform
        item = transform(member.records[r], ctx)
        if not isinstance(item, MutableMapping):
            raise TypeError(f"fusion transform must return a mutable mapping, got {type(item).__name__}")
        item[DATASET_NAME_KEY] = member.name
        self._realized[self._slot(), d] += 1
        return item

    def _slot(self) -> int:
        info = get_worker_info()
        if info is None:
            return 0
        if info.id + 1 > self.max_workers:
            raise RuntimeError(
                f"FusionDataset counts at most max_workers={self.max_workers} dataloader workers, "
                f"got worker id {info.id}; construct it with a larger max_workers"
            )
        return info.id + 1

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_schedule_cache"] = {}  # rebuilt lazily in each process
        return state
