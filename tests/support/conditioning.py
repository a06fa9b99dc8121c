"""Per-record loss of a checkpoint on its split's targets, with each record's own image or another's.

The samples are rendered exactly as for training and evaluation (src.eval's prompts, the training
target text, ms-swift's template in train mode with its collator); only the image is swapped. A
model that reads the image has a clearly lower loss with the record's own image. The loss is also
split by token type (desc / coordinate / structure, the training telemetry's classifier), so the
share of it that depends on the image can be told apart: the coordinate tokens of a one-object
answer are what only the image decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TOKEN_KINDS = ("all", "desc", "coord")


def image_swap_token_losses(cfg: Any, checkpoint: Path, *, num: int = 16, shift: int = 1, split: str = "val",
                            chunk: int = 16) -> dict[str, tuple[list[float], list[float]]]:
    """``{kind: (own, other)}`` for kind in TOKEN_KINDS: per record, the mean loss over its target
    tokens of that kind with its own image and with the image of record k+shift (None where a record
    has no token of the kind). ``chunk`` records go through the model at once; logits are taken
    at the supervised positions only (they are vocabulary-wide)."""
    import torch

    from src.datasets.image_frame import ImageFrame
    from src.eval.generate import Engine
    from src.eval.run import split_records
    from src.eval.samples import build_sample, target_text
    from src.trainers.telemetry.token_types import PieceCache, TokenType, classify_labels

    engine = Engine(cfg, Path(checkpoint), backend="transformers", batch_size=num, max_new_tokens=8)
    template, model = engine.template, engine.engine.model
    frame = ImageFrame.of_template(template)
    rows = split_records(cfg, split, num)
    samples = [build_sample(r, i, name, policy, frame) for name, i, r, policy in rows]
    targets = [target_text(s, row[3]) for s, row in zip(samples, rows)]
    piece_of = PieceCache(template.tokenizer)
    template.set_mode("train")
    kinds = {"desc": TokenType.DESC, "coord": TokenType.COORD}

    def record_losses(offset: int) -> dict[str, list[float | None]]:
        out: dict[str, list[float | None]] = {k: [] for k in TOKEN_KINDS}
        for start in range(0, len(samples), chunk):
            encoded = []
            for k in range(start, min(start + chunk, len(samples))):
                other = samples[(k + offset) % len(samples)]
                messages = [*samples[k].conversation["messages"], {"role": "assistant", "content": targets[k]}]
                encoded.append(template.encode({"messages": messages, "images": other.conversation["images"]}))
            batch = template.data_collator(encoded)
            labels = batch.pop("labels")[:, 1:]
            supervised = labels != -100  # the hidden state at t predicts label t + 1
            with torch.no_grad():
                hidden = model.model(**batch)[0][:, :-1]
                losses = torch.nn.functional.cross_entropy(model.lm_head(hidden[supervised]).float(), labels[supervised],
                                                           reduction="none")
            for row, row_losses in zip(labels.tolist(), losses.split(supervised.sum(1).tolist())):
                types = torch.tensor([int(t) for t in classify_labels(row, piece_of)])
                out["all"].append(float(row_losses.mean()))
                for kind, code in kinds.items():
                    picked = row_losses[types == code]
                    out[kind].append(float(picked.mean()) if len(picked) else None)
        return out

    model.eval()
    own, other = record_losses(0), record_losses(shift)
    return {k: (own[k], other[k]) for k in TOKEN_KINDS}


def image_swap_losses(cfg: Any, checkpoint: Path, *, num: int = 16, shift: int = 1,
                      split: str = "val") -> tuple[list[float], list[float]]:
    """(loss with own image, loss with the image of record k+shift) per record, mean over target tokens."""
    return image_swap_token_losses(cfg, checkpoint, num=num, shift=shift, split=split)["all"]
