"""`custom.overlong`: what a run does with records longer than its token budget, decided before step 1.

- `error` (default): :func:`plan_preflight` (called by `src/sft.py` before the model loads) stops the run
  listing every such record as the plan does (file:line, length, limit), exit 2.
- `drop`: those records leave the pool (:class:`KeptRecords`, an index filter: the fusion schedule is the
  same pure function of (seed, epoch) over the smaller pool).
- `fit_objects`: such a record keeps the objects that fit, first in rendered order (:class:`FittedRecords`, a
  per-record object limit). A record whose prompt and image alone are over cannot be fitted: an error.

The decision comes from the plan (`token_plan.build_plan`), a function of the data and the config only, so
every rank, dataloader worker and resumed run applies the same one. :class:`RunRecords` hands the dataset
builders each entry's records with the decision applied and the counts for the manifest and the log.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from src.config import ConfigError, Problem, TrainingConfig, display_path

from .fusion_members import cap_objects, entry_records
from .records import RecordError
from .render import RenderError, order_objects

logger = logging.getLogger(__name__)
LISTED = 20  # records listed in the error; the plan lists them all


class OverlongError(ConfigError):
    """Records over the token budget that the run's `custom.overlong` policy cannot take."""


class KeptRecords(Sequence):
    """The records at ``positions`` of ``records`` (``drop``)."""

    def __init__(self, records: Sequence[Any], positions: np.ndarray) -> None:
        self.records, self.positions = records, positions

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i):  # type: ignore[override]
        return self.records[int(self.positions[i])]

    def line_number(self, i: int) -> int:
        return self.records.line_number(int(self.positions[i]))


class FittedRecords(Sequence):
    """``records`` where the records in ``limits`` keep their first ``limits[i]`` objects in rendered order
    (after a source's ``max_objects_per_image`` cap, which the plan counted with)."""

    def __init__(self, records: Sequence[Any], limits: dict[int, int], ordering: str, max_objects: int | None) -> None:
        self.records, self.limits, self.ordering, self.max_objects = records, limits, ordering, max_objects

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):  # type: ignore[override]
        record = self.records[i]
        k = self.limits.get(int(i) % max(len(self), 1))
        if k is None:
            return record
        record = cap_objects(record, self.max_objects)
        return dataclasses.replace(record, objects=tuple(order_objects(record.objects, self.ordering)[:k]))

    def line_number(self, i: int) -> int:
        return self.records.line_number(i)


@dataclass
class Decision:
    """What `custom.overlong` does to one (entry, split)."""

    records: int
    over: int
    keep: np.ndarray | None = None  # drop: the positions kept
    limits: dict[int, int] = dataclasses.field(default_factory=dict)  # fit_objects: position -> objects kept
    dropped_objects: int = 0

    def counts(self) -> dict[str, int]:
        dropped = 0 if self.keep is None else self.records - len(self.keep)
        return {"records": self.records, "over_budget": self.over, "dropped_records": dropped,
                "records_cut": len(self.limits), "dropped_objects": self.dropped_objects}


def _listing(plan: Any, positions: dict[int, list[int]]) -> list[str]:
    """`file:line: N tokens (limit), K objects, J fit` for the given records of each entry (index -> positions)."""
    from .plan_report import record_line

    lines = []
    for index, chosen in positions.items():
        lines += [record_line(plan, plan.entries[index], p) for p in chosen]
    return lines


def _raise(plan: Any) -> str:
    """`Raise global_max_length to N (...)` and / or the completion budget, to what covers every record."""
    from .plan_report import needed_lengths

    needed, budget = needed_lengths(plan), plan.budget
    steps = []
    limit = budget.budget.total if budget.budget.total is not None else budget.budget.prompt
    if limit is not None and needed["max"] > (limit + budget.completion_reserve):
        steps.append(f"raise global_max_length to {needed['max']} (covers every record; {needed['p99']} covers 99 %)")
    completions = [int(e.counts.completion.max()) for e in plan.entries if len(e.counts)]
    if budget.budget.completion is not None and completions and max(completions) > budget.budget.completion:
        steps.append(f"raise {budget.completion_key} to {max(completions)} (every target and its turn end)")
    text = " and ".join(steps) or "raise the budget"
    return text[:1].upper() + text[1:]


def overlong_problem(cfg: TrainingConfig, plan: Any) -> Problem | None:
    """The `error` policy's problem (None when every record fits); under `fit_objects` the records that cannot
    be fitted."""
    if plan.overlong == "drop":
        empty = [f"{e.counts.name} ({e.counts.split}, {len(e.counts)} records)" for e in plan.entries
                 if len(e.counts) and e.over.all()]
        if not empty:
            return None
        return Problem(f"custom.overlong is drop, but every record of {', '.join(empty)} is over the run's token "
                       f"budget ({'; '.join(plan.budget.described.values())}): nothing would be left to train on. "
                       f"{_raise(plan)}, or lower template.max_pixels.",
                       key="custom.overlong", where=cfg.source.where("custom.overlong"))
    if plan.overlong == "fit_objects":
        chosen = {k: [p for p, fit in e.fits.items() if fit < 0] + [p for p in e.over_positions if p not in e.fits]
                  for k, e in enumerate(plan.entries)}
        head = ("over the token budget even with no object (the prompt and image alone, or a summary / chat "
                "record), so custom.overlong: fit_objects cannot fit them")
        fix = "Set custom.overlong: drop, lower template.max_pixels, or raise global_max_length."
    else:
        chosen = {k: e.over_positions for k, e in enumerate(plan.entries)}
        head = "longer than the run's token budget"
        fix = (f"{_raise(plan)}, lower template.max_pixels, shorten the targets, or set custom.overlong: drop "
               "(leave them out) or fit_objects (keep the objects that fit; docs/data_contract.md says what that "
               "teaches).")
    chosen = {k: sorted(v) for k, v in chosen.items() if v}
    total = sum(len(v) for v in chosen.values())
    if not total:
        return None
    listed = _listing(plan, {k: v[:LISTED] for k, v in chosen.items()})[:LISTED]
    command = " ".join(["python -m src.datasets.plan --config", cfg.source.display,
                        *(o.text for o in cfg.source.overrides)])
    more = f"\n  ... and {total - len(listed)} more ({command} lists them all)" if total > len(listed) else ""
    limits = "; ".join(plan.budget.described.values())
    are = "records are" if total != 1 else "record is"
    message = f"{total} {are} {head} ({limits}):\n  " + "\n  ".join(listed) + more + f"\n{fix}"
    return Problem(message, key="custom.overlong", where=cfg.source.where("custom.overlong"))


def plan_preflight(cfg: TrainingConfig) -> Any:
    """Before the model loads (`src/sft.py`): the plan, and an :class:`OverlongError` (exit 2) when its records
    are over the budget and `custom.overlong` cannot take them. Returns the plan (None without a fusion config)."""
    from .token_plan import build_plan

    if cfg.fusion is None:
        return None
    try:
        plan = build_plan(cfg, progress=True)
    except (RecordError, RenderError, FileNotFoundError) as exc:
        raise ConfigError([Problem(f"the token-budget plan cannot read the run's records: {exc}",
                                   key="custom.fusion_config", where=cfg.source.where("custom.fusion_config"))],
                          subject=cfg.source.display) from None
    problem = overlong_problem(cfg, plan)
    if problem is not None:
        raise OverlongError([problem], subject=cfg.source.display)
    return plan


def decide(plan: Any) -> dict[tuple[str, str], Decision]:
    decisions = {}
    for e in plan.entries:
        c = e.counts
        decision = Decision(records=len(c), over=int(e.over.sum()))
        if plan.overlong == "drop":
            decision.keep = np.flatnonzero(~e.over)
        elif plan.overlong == "fit_objects":
            decision.limits = {p: k for p, k in e.fits.items() if k >= 0}
            decision.dropped_objects = int(sum(int(c.objects[p]) - k for p, k in decision.limits.items()))
        decisions[c.name, c.split] = decision
    return decisions


class RunRecords:
    """Each fusion entry's records as the run's datasets use them: sample limits, then `custom.overlong`."""

    def __init__(self, cfg: TrainingConfig, template: Any = None) -> None:
        self.cfg = cfg
        self.decisions: dict[tuple[str, str], Decision] = {}
        if cfg.custom.overlong != "error" and cfg.fusion is not None:
            from .token_plan import build_plan

            plan = build_plan(cfg, template)
            problem = overlong_problem(cfg, plan)
            if problem is not None:
                raise OverlongError([problem], subject=cfg.source.display)
            self.decisions = decide(plan)
            for (name, split), d in self.decisions.items():
                if d.over:
                    logger.info("custom.overlong=%s: %s (%s): %s", cfg.custom.overlong, name, split,
                                ", ".join(f"{k} {v}" for k, v in d.counts().items()))

    def records(self, entry: Any, split: str) -> Sequence[Any]:
        train = split == "train"
        path = entry.train_path if train else entry.val_path
        limit = self.cfg.custom.train_sample_limit if train else self.cfg.custom.val_sample_limit
        records = entry_records(entry, path, limit)
        decision = self.decisions.get((entry.name, split))
        if decision is None or not decision.over:
            return records
        if decision.keep is not None:
            return KeptRecords(records, decision.keep)
        max_objects = getattr(entry, "max_objects_per_image", None) if train else None
        return FittedRecords(records, decision.limits, self.cfg.custom.object_ordering, max_objects)

    def report(self) -> dict[str, Any]:
        """The manifest's `datasets.overlong`: the policy and, per entry and split, what it did."""
        entries: dict[str, dict[str, Any]] = {}
        for (name, split), d in self.decisions.items():
            entries.setdefault(name, {})[split] = d.counts()
        return {"policy": self.cfg.custom.overlong, "entries": entries or None,
                "fusion_config": display_path(self.cfg.fusion.path) if self.cfg.fusion else None}
