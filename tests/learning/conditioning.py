"""Per-record loss of a checkpoint on its split's targets, with each record's own image or another's.

The samples are rendered exactly as for training and evaluation (src.eval's prompts, the training
target text, ms-swift's template in train mode with its collator); only the image is swapped. A
model that reads the image has a clearly lower loss with the record's own image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def image_swap_losses(cfg: Any, checkpoint: Path, *, num: int = 16, shift: int = 1,
                      split: str = "val") -> tuple[list[float], list[float]]:
    """(loss with own image, loss with the image of record k+shift) per record, mean over target tokens."""
    import torch

    from src.datasets.image_frame import ImageFrame
    from src.eval.generate import Engine
    from src.eval.run import split_records
    from src.eval.samples import build_sample, target_text

    engine = Engine(cfg, Path(checkpoint), backend="transformers", batch_size=num, max_new_tokens=8)
    template, model = engine.template, engine.engine.model
    frame = ImageFrame.of_template(template)
    rows = split_records(cfg, split, num)
    samples = [build_sample(r, i, name, policy, frame) for name, i, r, policy in rows]
    targets = [target_text(s, row[3]) for s, row in zip(samples, rows)]
    template.set_mode("train")

    def losses(offset: int) -> list[float]:
        encoded = []
        for k, sample in enumerate(samples):
            other = samples[(k + offset) % len(samples)]
            messages = [*sample.conversation["messages"], {"role": "assistant", "content": targets[k]}]
            encoded.append(template.encode({"messages": messages, "images": other.conversation["images"]}))
        batch = template.data_collator(encoded)
        labels = batch.pop("labels")
        with torch.no_grad():
            logits = model(**batch).logits[:, :-1].float()
        labels = labels[:, 1:]
        per_token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100,
                                                      reduction="none")
        return (per_token.sum(1) / (labels != -100).sum(1)).tolist()

    model.eval()
    return losses(0), losses(shift)
