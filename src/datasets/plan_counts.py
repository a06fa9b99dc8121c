"""Per-record token counts of one fusion entry's split, as the run would encode its samples.

:class:`SampleCounter` holds the run's template and the arithmetic of :mod:`.token_count`; `count(...)`
walks an entry's records (the ones the run uses: sample limits, a source's object cap) and returns an
:class:`EntryCounts`: per record its line, total length, prompt length (the prompt-only conversation, as
GRPO and rollouts encode it), completion (total - prompt: target and turn end) and object count.
`fitting_objects(...)` finds, for records over a budget, how many objects (in rendered order) fit.
Chat members are encoded by the template itself (text only, cheap).
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .builder import SamplePolicy
from .fusion_members import cap_objects
from .records import Record
from .render import order_objects, render_target
from .token_count import ImageTokens, Skeleton, TextTokens, augmentation_can_enlarge

BATCH = 2048
PARALLEL_FROM = 20_000  # records: below this one process is faster than starting workers
MAX_WORKERS = 8
PARALLELISM = "TOKENIZERS_PARALLELISM"
FIELDS = ("lines", "total", "prompt", "completion", "objects")


@dataclass
class EntryCounts:
    """Token counts of every record of one (fusion entry, split), in record order."""

    name: str
    split: str  # train | val
    path: str
    kind: str  # dense | summary | chat
    lines: np.ndarray
    total: np.ndarray
    prompt: np.ndarray
    completion: np.ndarray
    objects: np.ndarray

    def __len__(self) -> int:
        return len(self.total)

    def to_json(self) -> dict[str, Any]:
        head = {"name": self.name, "split": self.split, "path": self.path, "kind": self.kind}
        return {**head, **{f: getattr(self, f).tolist() for f in FIELDS}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntryCounts:
        arrays = {f: np.asarray(data[f], dtype=np.int64) for f in FIELDS}
        return cls(name=data["name"], split=data["split"], path=data["path"], kind=data["kind"], **arrays)


@dataclass(frozen=True)
class Budget:
    """Token limits a sample must satisfy (None: not limited)."""

    total: int | None = None
    prompt: int | None = None
    completion: int | None = None

    def fits(self, total: int, prompt: int, completion: int) -> bool:
        return all(limit is None or value <= limit for value, limit in
                   ((total, self.total), (prompt, self.prompt), (completion, self.completion)))


def _positions(records: Sequence[Any]) -> Iterable[int]:
    return range(len(records))


class SampleCounter:
    """Token counts of samples of the run's template (no pixels decoded, no model loaded)."""

    def __init__(self, template: Any, pixel_coords: bool) -> None:
        self.template = template
        self.text = TextTokens(template.tokenizer)
        self.images = ImageTokens.of_template(template, pixel_coords)
        self.skeleton = Skeleton(template, self.text)

    def image_tokens(self, record: Record, enlarge: bool) -> int:
        per_image = self.images.bound() if enlarge else self.images(record.width, record.height)
        return per_image * len(record.images)

    def _target(self, record: Record, policy: SamplePolicy) -> str:
        return render_target(record, mode=policy.mode, coord_format=policy.coord_format,
                             ordering=policy.ordering, prefix=policy.prefix)

    def count(self, name: str, split: str, path: str, records: Sequence[Any], policy: SamplePolicy | None,
              advance: Callable[[int], None] = lambda n: None) -> EntryCounts:
        """Counts of every record; ``policy`` None: a chat member (conversations as written)."""
        n = len(records)
        lines, total, prompt, completion, objects = (np.zeros(n, dtype=np.int64) for _ in FIELDS)
        for i in _positions(records):
            lines[i] = _line(records, i)
        if policy is None:
            for i in _positions(records):
                total[i] = prompt[i] = len(self.template.encode({"messages": records[i]})["input_ids"])
                advance(1)
            return EntryCounts(name, split, path, "chat", lines, total, prompt, completion, objects)
        for start, part in _spans(lambda a, b: self._dense(records, policy, a, b), n, advance):
            prompt[start:start + part.shape[1]], total[start:start + part.shape[1]] = part[0], part[1]
            objects[start:start + part.shape[1]] = part[2]
        completion[:] = total - prompt
        return EntryCounts(name, split, path, policy.mode, lines, total, prompt, completion, objects)

    def _dense(self, records: Sequence[Any], policy: SamplePolicy, start: int, stop: int) -> np.ndarray:
        """(prompt, total, objects) of records ``start:stop``; the targets tokenized together."""
        enlarge = augmentation_can_enlarge(policy.augmentation)
        batch = [cap_objects(records[i], policy.max_objects) for i in range(start, stop)]
        out = np.zeros((3, len(batch)), dtype=np.int64)
        for k, (record, target) in enumerate(zip(batch, self.text([self._target(r, policy) for r in batch]))):
            images = self.image_tokens(record, enlarge)
            out[0, k] = self.skeleton.prompt(policy.user_prompt, len(record.images)) + images
            out[1, k] = self.skeleton.full(policy.user_prompt, len(record.images)) + images + target
            out[2, k] = len(record.objects)
        return out

    def fitting_objects(self, records: Sequence[Any], positions: Sequence[int], policy: SamplePolicy,
                        budget: Budget) -> dict[int, int]:
        """For each record position: the most objects (first in rendered order) whose sample fits ``budget``;
        -1 when not even the empty target fits (the prompt and image alone are too long)."""
        enlarge = augmentation_can_enlarge(policy.augmentation)
        recs = {i: cap_objects(records[i], policy.max_objects) for i in positions}
        ordered = {i: order_objects(r.objects, policy.ordering) for i, r in recs.items()}
        low = {i: -1 for i in positions}  # the most objects known to fit (-1: not even none)
        high = {i: len(recs[i].objects) for i in positions}  # the fewest known not to fit (the record is over)
        while True:
            probe = {i: (low[i] + high[i]) // 2 for i in positions if high[i] - low[i] > 1}
            if not probe:
                return low
            texts = [self._target(dataclasses.replace(recs[i], objects=tuple(ordered[i][:k])), policy)
                     for i, k in probe.items()]
            for (i, k), target in zip(probe.items(), self.text(texts)):
                record, images = recs[i], self.image_tokens(recs[i], enlarge)
                prompt = self.skeleton.prompt(policy.user_prompt, len(record.images)) + images
                total = self.skeleton.full(policy.user_prompt, len(record.images)) + images + target
                if budget.fits(total, prompt, total - prompt):
                    low[i] = k
                else:
                    high[i] = k


_JOB: Callable[[int, int], np.ndarray] | None = None  # the parent's job, inherited by forked workers


def _run(span: tuple[int, int]) -> tuple[int, np.ndarray]:
    assert _JOB is not None
    return span[0], _JOB(*span)


def _spans(job: Callable[[int, int], np.ndarray], n: int, advance: Callable[[int], None],
           ) -> Iterator[tuple[int, np.ndarray]]:
    """``job(start, stop)`` over ``[0, n)`` in batches: in this process for small sets, else in forked workers
    (one per usable core, shared by the node's ranks; each inherits the template and tokenizer), results in
    any order."""
    global _JOB
    spans = [(start, min(n, start + BATCH)) for start in range(0, n, BATCH)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    workers = min(cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))), MAX_WORKERS)  # ranks share the node
    if n < PARALLEL_FROM or workers < 2 or "fork" not in mp.get_all_start_methods():
        for span in spans:
            yield span[0], job(*span)
            advance(span[1] - span[0])
        return
    _JOB, saved = job, os.environ.get(PARALLELISM)
    os.environ[PARALLELISM] = "false"  # the workers' tokenizer runs single-threaded (no fork warning)
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            for start, part in pool.imap_unordered(_run, spans):
                yield start, part
                advance(part.shape[1])
    finally:
        _JOB = None
        if saved is None:
            os.environ.pop(PARALLELISM, None)
        else:
            os.environ[PARALLELISM] = saved


def _line(records: Sequence[Any], i: int) -> int:
    """The 1-based JSONL line of record ``i`` (JsonlIndex, ChatRecords and sample limits all tell it)."""
    return records.line_number(i)
