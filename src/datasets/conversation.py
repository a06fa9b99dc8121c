"""Record -> ms-swift conversation row (`{"messages": [...], "images": [...]}`).

The row never carries the record's `objects`: ms-swift's template reads an `objects` key as its
own grounding annotations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IMAGE_PLACEHOLDER = "<image>"


def build_conversation(
    images: Sequence[Any],
    user_prompt: str,
    assistant_text: str | None,
    system: str | None = None,
) -> dict[str, Any]:
    """A single-turn conversation: one `<image>` placeholder per image, then the prompt.

    `images` are paths or PIL images (already augmented). `assistant_text=None` builds a
    prompt-only row (for rollouts).
    """
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": IMAGE_PLACEHOLDER * len(images) + user_prompt})
    if assistant_text is not None:
        messages.append({"role": "assistant", "content": assistant_text})
    return {"messages": messages, "images": list(images)}
