"""What a training mode is, declared in one object: `ModeSpec`.

One `SPEC` per mode, in `src/config/modes/<mode>.py`; `src/config/modes/__init__.py` finds every module of
this package that exports one (nothing else to register). The recipe that runs the mode is
`src/trainers/<mode>.py` (its `RECIPE`). Torch-free: the whole spec is read before anything heavy loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import Problem
from ..resolve import MISSING, ResolvedConfig

if TYPE_CHECKING:
    from ..value_rules import ValueRule


@dataclass(frozen=True)
class Lengths:
    """What ``global_max_length`` (G) implies for one mode: proxied field -> value, budget problems, and a
    note appended to a ``template.max_length`` conflict. ``implied`` is empty when nothing can be proxied."""

    implied: dict[str, int]
    problems: list[Problem]
    note: str = ""


ServerRole = Literal["rlhf", "rollout_matching"]  # rlhf.vllm_server_* (ms-swift's rollout) / rollout_matching.vllm


@dataclass(frozen=True)
class ModeSpec:
    """A training mode: how a config selects it, what ms-swift builds for it, what it can do, its rules.

    Selection: the top-level ``mode: <name>``, the ``rlhf.rlhf_type`` value it answers to or its
    ``custom.trainer_variant`` value (the older spelling); those written must agree. None: the ``default`` mode.
    """

    name: str
    arguments: Literal["sft", "rlhf"]  # ms-swift's SftArguments + SwiftSft, or RLHFArguments + SwiftRLHF
    rules: Callable[[ResolvedConfig], list[Problem]]  # its own cross-field rules on the resolved (unproxied) data
    lengths: Callable[[ResolvedConfig, int], Lengths]  # what G (an int > 0) implies for its length fields
    rlhf_type: str | None = None  # the rlhf.rlhf_type value that selects it (RLHF modes)
    trainer_variant: str | None = None  # the custom.trainer_variant value that selects it (older spelling)
    default: bool = False  # selected when no mode, rlhf_type or trainer_variant is written
    # capabilities
    telemetry_loss: Literal["cross_entropy", "jsd"] | None = None  # the loss telemetry reads; None: no telemetry
    no_telemetry: str = ""  # why there is none (shown when a preset switches it on)
    detection_eval: bool = False  # custom.detection_eval during training
    conversation_dump: bool = False  # custom.dump_conversation_text
    chat_members: bool = False  # chat-format fusion members (conversations trained as written)
    server_roles: tuple[ServerRole, ...] = ()  # the vLLM rollout servers it can be given
    sections: dict[str, Any] = field(default_factory=dict)  # top-level sections only it reads -> their pydantic
    # model (validated into TrainingConfig.<section>; other modes refuse them)
    own_keys: tuple[str, ...] = ()  # keys only it reads (dotted; `rlhf.prefix_` or a name): refused elsewhere
    value_rules: tuple[ValueRule, ...] = ()  # its own value rules (src/config/value_rules.py)
    # token plan (src/datasets/token_plan.py)
    prompt_budget: bool = False  # only the prompt is encoded; C tokens are generated after it (G - C)
    rollout_budget_key: str | None = None  # the key of a rollout budget inside G

    @property
    def is_rlhf(self) -> bool:
        return self.arguments == "rlhf"


def need(resolved: ResolvedConfig, mode: str, dotted: str, why: str) -> list[Problem]:
    """A section or key the mode cannot run without."""
    if resolved.get(dotted, None) in (None, MISSING, [], ""):
        return [Problem(f"required for {mode} runs: {why}", key=dotted, where=resolved.where(dotted.rpartition(".")[0]))]
    return []
