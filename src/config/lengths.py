"""`global_max_length` (G): the one length knob, proxied into every ms-swift length field.

Rules (ms-swift 4.6.0 semantics; C = rlhf.max_completion_length, ms-swift default 512):

| field                              | sft / stage2_ab | gkd | grpo  |
|------------------------------------|-----------------|-----|-------|
| model.max_model_len                | G               | G   | G     |
| template.max_length                | G               | G   | G - C |
| rlhf.vllm_max_model_len (use_vllm) | -               | G   | G     |
| rollout_matching.vllm.max_model_len| G (stage2_ab with a vllm block)     |

- `template.max_length` bounds one encoded sample. SFT and stage2_ab encode whole
  conversations; GKD encodes prompt + response too (dataset responses on off-policy steps, prompt
  + generated completion on on-policy steps), so it gets G. GRPO encodes only the prompt and
  generates up to C tokens after it, so its prompt budget is G - C (error when <= 0).
- `model.max_model_len` sets the model config's max position length (ms-swift writes it into
  `max_position_embeddings`): the longest sequence the run will ever build, G.
- vLLM holds prompt + completion: `vllm_max_model_len` = G. In server mode ms-swift ignores the
  trainer-side value; the launcher passes it to `swift rollout` from the resolved config.
- Budgets that must fit inside G: rlhf.max_completion_length (gkd, grpo) and
  rollout_matching.max_new_tokens (stage2_ab) must be < G.

An explicit value in a proxied field equal to what G implies is accepted; a different one is an
error naming both. Proxied values carry the origin `proxy:global_max_length`.
"""

from __future__ import annotations

from typing import Any

from .errors import Problem
from .resolve import MISSING, ResolvedConfig
from .swift_fields import swift_field

KEY = "global_max_length"


def _completion_budget(resolved: ResolvedConfig) -> tuple[int | None, str]:
    """C and a description of where it comes from; None when the written value is not an int
    (the schema check reports that)."""
    value = resolved.get("rlhf.max_completion_length", MISSING)
    if value is MISSING or value is None:
        default = swift_field("max_completion_length").default_for(rlhf=True)
        return int(default), f"ms-swift's default rlhf.max_completion_length {default}"
    if not isinstance(value, int) or isinstance(value, bool):
        return None, ""
    return value, f"rlhf.max_completion_length {value} ({resolved.where('rlhf.max_completion_length')})"


def implied_lengths(mode: str, resolved: ResolvedConfig) -> tuple[dict[str, int], list[Problem]]:
    """The values G implies for each proxied field in this mode, and budget problems."""
    g = resolved.get(KEY, None)
    if not isinstance(g, int) or isinstance(g, bool) or g <= 0:
        return {}, []
    where_g = resolved.where(KEY)
    implied: dict[str, int] = {"model.max_model_len": g}
    problems: list[Problem] = []
    budget_note = ""
    if mode in ("gkd", "grpo"):
        completion, completion_src = _completion_budget(resolved)
        if completion is None:
            return {}, problems
        if completion >= g:
            problems.append(Problem(
                f"the completion budget ({completion_src}) must be smaller than global_max_length {g} "
                f"({where_g}), which bounds prompt + completion.",
                key="rlhf.max_completion_length", where=resolved.where("rlhf.max_completion_length"),
            ))
            return {}, problems
        if mode == "grpo":
            implied["template.max_length"] = g - completion
            budget_note = f" (GRPO prompt budget = {g} - {completion_src})"
        else:
            implied["template.max_length"] = g
        if resolved.get("rlhf.use_vllm", False) is True:
            implied["rlhf.vllm_max_model_len"] = g
    else:
        implied["template.max_length"] = g
    if mode == "stage2_ab":
        new_tokens = resolved.get("rollout_matching.max_new_tokens", None)
        if isinstance(new_tokens, int) and not isinstance(new_tokens, bool) and new_tokens >= g:
            problems.append(Problem(
                f"the rollout budget {new_tokens} must be smaller than global_max_length {g} ({where_g}).",
                key="rollout_matching.max_new_tokens", where=resolved.where("rollout_matching.max_new_tokens"),
            ))
        if isinstance(resolved.get("rollout_matching.vllm", None), dict):
            implied["rollout_matching.vllm.max_model_len"] = g

    for dotted, value in implied.items():
        written: Any = resolved.get(dotted, MISSING)
        if written is MISSING or written is None or written == value:
            continue
        note = budget_note if dotted == "template.max_length" else ""
        problems.append(Problem(
            f"conflicts with global_max_length: written {written!r}, but global_max_length {g} ({where_g}) "
            f"implies {dotted} = {value} for a {mode} run{note}. Remove {dotted} and set only "
            "global_max_length.",
            key=dotted, where=resolved.where(dotted),
        ))
    return implied, problems
