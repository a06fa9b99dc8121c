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
from .modes import spec_of
from .resolve import MISSING, ResolvedConfig

KEY = "global_max_length"


def implied_lengths(mode: str, resolved: ResolvedConfig) -> tuple[dict[str, int], list[Problem]]:
    """The values G implies for each proxied field in this mode (src/config/modes/<mode>.py), budget problems,
    and a problem for every written value that differs from what G implies."""
    g = resolved.get(KEY, None)
    if not isinstance(g, int) or isinstance(g, bool) or g <= 0:
        return {}, []
    lengths = spec_of(mode).lengths(resolved, g)
    implied, problems = lengths.implied, list(lengths.problems)
    for dotted, value in implied.items():
        written: Any = resolved.get(dotted, MISSING)
        if written is MISSING or written is None or written == value:
            continue
        note = lengths.note if dotted == "template.max_length" else ""
        problems.append(Problem(
            f"conflicts with global_max_length: written {written!r}, but global_max_length {g} ({resolved.where(KEY)}) "
            f"implies {dotted} = {value} for a {mode} run{note}. Remove {dotted} and set only "
            "global_max_length.",
            key=dotted, where=resolved.where(dotted),
        ))
    return implied, problems
