"""Augmentation curriculum: the ``custom.augmentation`` in effect, as a pure function of where training
is (``custom.augmentation_curriculum``, docs/data_contract.md "Augmentation").

Milestone 0 is the base config (``custom.augmentation``) at position 0; phase ``k`` sets the
targets reached at its milestone (``until_percent`` of the run's total optimizer steps, or
``until_step``): its ``bypass_prob`` and the parameters it names; everything it does not name keeps
the previous target. Between two milestones every ramped number (an op's ``prob`` and ``CURRICULUM``
fields: scalars, and each end of a ``[lo, hi]`` range) moves linearly from the earlier target to the
later one; past the last milestone the last targets hold. Other parameters never change. Repeating a
target gives a flat stretch. The result is the schema's own :class:`AugmentationConfig`, ops and all.
No PIL, numpy or torch here: workers evaluate it per sample from the shared training position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from src.config.schema_augmentation import AugmentationConfig, AugmentationCurriculum, AugmentationOp

Unit = Literal["percent", "step"]


def _lerp(a: Any, b: Any, t: float) -> Any:
    if a == b:
        return a
    if isinstance(a, (list, tuple)):
        return [_lerp(x, y, t) for x, y in zip(a, b, strict=True)]
    return float(a) + (float(b) - float(a)) * t


def _ramp(a: AugmentationOp, b: AugmentationOp, t: float) -> AugmentationOp:
    if a is b:
        return a
    return a.model_copy(update={k: _lerp(getattr(a, k), getattr(b, k), t) for k in a.ramped()})


@dataclass(frozen=True)
class Curriculum:
    unit: Unit
    milestones: tuple[float, ...]  # strictly increasing, first is 0 (the base)
    configs: tuple[AugmentationConfig, ...]  # the targets at each milestone; the first is the base

    @classmethod
    def build(cls, base: AugmentationConfig, curriculum: AugmentationCurriculum | None) -> Curriculum:
        """``curriculum`` as validated against ``base`` (``check_curriculum``, run by ``CustomConfig``):
        milestones strictly increase from 0, each ramped op appears exactly once in ``base.ops``."""
        milestones, configs = [0.0], [base]
        if curriculum is None:
            return cls("percent", tuple(milestones), tuple(configs))
        index = {op.name: i for i, op in enumerate(base.ops)}
        for phase in curriculum.phases:
            prev = configs[-1]
            ops = list(prev.ops)
            for name, overrides in phase.ops.items():
                ops[index[name]] = ops[index[name]].model_copy(update=dict(overrides))
            bypass = prev.bypass_prob if phase.bypass_prob is None else float(phase.bypass_prob)
            milestones.append(phase.milestone)
            configs.append(prev.model_copy(update={"bypass_prob": bypass, "ops": ops}))
        return cls(curriculum.unit, tuple(milestones), tuple(configs))

    def position(self, global_step: int, total_steps: int) -> float:
        """Where training is, in this curriculum's unit (percent of total steps, or the step)."""
        if self.unit == "step":
            return float(max(0, global_step))
        if total_steps <= 0:
            return 0.0
        return min(100.0, max(0.0, 100.0 * global_step / total_steps))

    def at(self, position: float) -> AugmentationConfig:
        """The config in effect at ``position`` (see the module docstring)."""
        if position >= self.milestones[-1]:
            return self.configs[-1]
        if position <= 0.0:
            return self.configs[0]
        k = next(i for i, m in enumerate(self.milestones) if position < m)
        lo, hi = self.milestones[k - 1], self.milestones[k]
        t = (position - lo) / (hi - lo)
        a, b = self.configs[k - 1], self.configs[k]
        ops = [_ramp(pa, pb, t) for pa, pb in zip(a.ops, b.ops, strict=True)]
        return a.model_copy(update={"bypass_prob": _lerp(a.bypass_prob, b.bypass_prob, t), "ops": ops})
