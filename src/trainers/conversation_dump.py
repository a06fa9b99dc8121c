"""`custom.dump_conversation_text`: the first training samples, as the model will read them.

Rank 0 encodes the first few scheduled samples of epoch 0 through the run's own template (the
same call the dataloader makes) and writes their text to `custom.dump_conversation_path`
(default `<output_dir>/conversation_text.txt`): the prompt, the image placeholders, the assistant
target, and which tokens carry loss. Runs of one repeated special token (the image pads) are
shortened to `<|image_pad|>x256`, so a dump stays readable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src.constants import IGNORE_INDEX

logger = logging.getLogger(__name__)

DUMP_SAMPLES = 4


def squeeze_runs(pieces: Sequence[str]) -> str:
    """Join decoded tokens, writing a run of one repeated special token `<|x|>` as `<|x|>xN`."""
    out: list[str] = []
    i = 0
    while i < len(pieces):
        j = i
        while j + 1 < len(pieces) and pieces[j + 1] == pieces[i]:
            j += 1
        run = j - i + 1
        special = pieces[i].startswith("<|") and pieces[i].endswith("|>")
        out.append(f"{pieces[i]}x{run}" if special and run > 1 else "".join(pieces[i:j + 1]))
        i = j + 1
    return "".join(out)


def render_sample(tokenizer: Any, input_ids: Sequence[int], labels: Sequence[int] | None) -> tuple[str, str]:
    """(the whole sample's text, the text of the tokens that carry loss)."""
    pieces = [tokenizer.decode([int(t)], skip_special_tokens=False) for t in input_ids]
    supervised = [p for p, lab in zip(pieces, labels or (), strict=False) if int(lab) != IGNORE_INDEX]
    return squeeze_runs(pieces), "".join(supervised)


def dump_conversations(dataset: Any, tokenizer: Any, path: Path, count: int = DUMP_SAMPLES) -> Path | None:
    """Write the first `count` samples of `dataset` to `path` (rank 0 only); returns the path written."""
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    blocks = []
    for index in range(min(count, len(dataset))):
        item = dataset[index]
        text, target = render_sample(tokenizer, list(item["input_ids"]), item.get("labels"))
        name = item.get("dataset_name", "?")
        blocks.append(f"===== sample {index} (dataset {name}, {len(item['input_ids'])} tokens) =====\n{text}\n"
                      f"----- supervised tokens -----\n{target}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(blocks), encoding="utf-8")
    logger.info("conversation text of %d training samples written to %s", len(blocks), path)
    return path
