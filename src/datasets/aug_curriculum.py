"""Augmentation curriculum: effective ``bypass_prob`` and op parameters as a pure function of where
training is (``custom.augmentation_curriculum``, docs/data_contract.md "Augmentation").

Milestone 0 is the base config (``custom.augmentation``) at position 0; phase ``k`` sets the
targets reached at its milestone (``until_percent`` of the run's total optimizer steps, or
``until_step``): its ``bypass_prob`` and the parameters it names; everything it does not name keeps
the previous target. Between two milestones every number (scalars, and each end of a ``[lo, hi]``
range) moves linearly from the earlier target to the later one; past the last milestone the last
targets hold. Non-numeric parameters never change. Repeating a target gives a flat stretch.
No PIL, numpy or torch here: workers evaluate it per sample from the shared training position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Unit = Literal["percent", "step"]


@dataclass(frozen=True)
class Targets:
    bypass_prob: float
    ops: tuple[Mapping[str, Any], ...]  # per op of the pipeline: `prob` (when it has one) and params


@dataclass(frozen=True)
class Phase:
    milestone: float  # percent (0, 100] or optimizer step >= 1
    bypass_prob: float | None
    ops: Mapping[int, Mapping[str, Any]]  # op index -> overridden parameters


def _lerp(a: Any, b: Any, t: float) -> Any:
    if a == b:
        return a
    if isinstance(a, (list, tuple)):
        return [_lerp(x, y, t) for x, y in zip(a, b, strict=True)]
    return float(a) + (float(b) - float(a)) * t


@dataclass(frozen=True)
class Curriculum:
    unit: Unit
    milestones: tuple[float, ...]  # strictly increasing, first is 0 (the base)
    targets: tuple[Targets, ...]  # one per milestone

    @classmethod
    def build(cls, unit: Unit, base: Targets, phases: Sequence[Phase]) -> Curriculum:
        milestones, targets = [0.0], [base]
        for phase in phases:
            if phase.milestone <= milestones[-1]:
                raise ValueError(f"curriculum milestones must strictly increase from 0, got {phase.milestone} "
                                 f"after {milestones[-1]}")
            prev = targets[-1]
            ops = [dict(p) for p in prev.ops]
            for i, overrides in phase.ops.items():
                ops[i].update(overrides)
            bypass = prev.bypass_prob if phase.bypass_prob is None else float(phase.bypass_prob)
            milestones.append(float(phase.milestone))
            targets.append(Targets(bypass, tuple(ops)))
        return cls(unit, tuple(milestones), tuple(targets))

    def position(self, global_step: int, total_steps: int) -> float:
        """Where training is, in this curriculum's unit (percent of total steps, or the step)."""
        if self.unit == "step":
            return float(max(0, global_step))
        if total_steps <= 0:
            return 0.0
        return min(100.0, max(0.0, 100.0 * global_step / total_steps))

    def at(self, position: float) -> Targets:
        """Targets in effect at ``position`` (see the module docstring)."""
        if position >= self.milestones[-1]:
            return self.targets[-1]
        if position <= 0.0:
            return self.targets[0]
        k = next(i for i, m in enumerate(self.milestones) if position < m)
        lo, hi = self.milestones[k - 1], self.milestones[k]
        t = (position - lo) / (hi - lo)
        a, b = self.targets[k - 1], self.targets[k]
        ops = tuple({key: _lerp(pa[key], pb[key], t) for key in pa} for pa, pb in zip(a.ops, b.ops, strict=True))
        return Targets(_lerp(a.bypass_prob, b.bypass_prob, t), ops)
