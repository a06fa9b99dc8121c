"""Per-group loss / accuracy sums and their exact reduction across ranks.

Every telemetry group (a fusion dataset, a token type) keeps three running sums on each rank:
``[sum of per-token loss, number of correct argmax predictions, number of tokens]``. The
value logged for a group is ``sum(loss) / sum(tokens)`` over *all ranks' tokens* (and the same
for accuracy), i.e. sums are all-reduced, never means of per-rank means. The table has a
fixed layout (the same group names in the same order on every rank), so each rank issues
exactly one ``all_reduce`` per log, even when it saw no token of some group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from src.distributed import all_reduce

LOSS, CORRECT, COUNT = 0, 1, 2
N_FIELDS = 3


@dataclass(frozen=True)
class GroupLayout:
    """Row names of the sums table; ``metric_keys[i]`` = (loss key, acc key, tokens key)."""

    families: tuple[tuple[str, tuple[str, ...]], ...]  # (family, member names), e.g. ("dataset", (...))

    @property
    def rows(self) -> tuple[tuple[str, str], ...]:
        return tuple((family, name) for family, names in self.families for name in names)

    def offset(self, family: str) -> int:
        start = 0
        for fam, names in self.families:
            if fam == family:
                return start
            start += len(names)
        raise KeyError(family)

    def size(self, family: str) -> int:
        return len(dict(self.families)[family])

    def __len__(self) -> int:
        return len(self.rows)


def group_sums(n_groups: int, group_ids: torch.Tensor, token_loss: torch.Tensor,
               correct: torch.Tensor | None) -> torch.Tensor:
    """``[n_groups, 3]`` float64 sums of (loss, correct, count) per group id; ids < 0 are skipped.

    ``correct`` None (no argmax on this loss path): the correct column is NaN, so the group's
    accuracy is not logged for the window."""
    keep = group_ids >= 0
    ids = group_ids[keep].long()
    hits = (torch.full_like(token_loss[keep], float("nan"), dtype=torch.float64) if correct is None
            else correct[keep].double())
    values = torch.stack([token_loss[keep].double(), hits,
                          torch.ones_like(ids, dtype=torch.float64)], dim=1)
    out = torch.zeros(n_groups, N_FIELDS, dtype=torch.float64, device=token_loss.device)
    return out.index_add_(0, ids, values)


def reduce_rank_sums(per_rank: Sequence[torch.Tensor]) -> torch.Tensor:
    """What an all-reduce(SUM) of per-rank sums tables yields (the reference arithmetic)."""
    return torch.stack(list(per_rank)).sum(dim=0)


def all_reduce_sums(local: torch.Tensor) -> torch.Tensor:
    """Sum the table over all ranks (a copy without an initialised process group).

    Every rank must call this at the same point with a table of the same shape.
    """
    return all_reduce(local, "sum")


def metrics_from_sums(layout: GroupLayout, sums: torch.Tensor, prefix: str = "") -> dict[str, float]:
    """``{prefix}loss/<family>/<name>``, ``acc/...`` (when known), ``tokens/...`` for groups with tokens."""
    logs: dict[str, float] = {}
    table = sums.detach().cpu().tolist()
    for (family, name), (loss, correct, count) in zip(layout.rows, table):
        if count <= 0:
            continue
        logs[f"{prefix}loss/{family}/{name}"] = loss / count
        if math.isfinite(correct):
            logs[f"{prefix}acc/{family}/{name}"] = correct / count
        logs[f"{prefix}tokens/{family}/{name}"] = count
    return logs
