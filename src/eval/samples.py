"""Split records -> generation prompts exactly as training encodes them, and completions -> EvalImages.

A prompt is the training conversation without its assistant turn: the entry's user prompt, the
images (for ``pixel`` coordinates resized to the template's frame first, as training fits them),
no augmentation. Shared by ``python -m src.eval`` (ms-swift engines) and the in-training
detection evaluation (the stage-2 ``hf`` rollout backend).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from src.datasets import geometry
from src.datasets.builder import SamplePolicy, prepare_record
from src.datasets.conversation import build_conversation
from src.datasets.image_frame import ImageFrame
from src.datasets.jsonl_index import JsonlIndex
from src.datasets.records import DenseObject, Record, RecordError
from src.datasets.render import PREFIX_SEPARATOR, render_prefix, render_target

from .completion import TokenLogprobs, parse_completion
from .predictions import ImagePrediction
from .score import EvalImage
from .source import EvalError


@dataclass(frozen=True)
class EvalSample:
    index: int  # record index in the split JSONL
    dataset: str
    record: Record  # as in the file (original frame)
    conversation: dict[str, Any]  # ms-swift messages + images, no assistant turn
    seen_size: tuple[int, int]  # the image size the model sees
    prefix: str | None  # formatted assistant prefix + separator, or None


def check_images(record: Record) -> None:
    where = f"{record.source.path}:{record.source.line}" if record.source else "<record>"
    for path in record.image_paths():
        try:
            with Image.open(path) as im:
                im.verify()
        except (OSError, UnidentifiedImageError) as e:
            raise EvalError(f"{where}: image {path} cannot be read ({type(e).__name__}: {e}); fix or remove the "
                            "record, or evaluate fewer records with --num") from None


def build_sample(record: Record, index: int, dataset: str, policy: SamplePolicy, frame: ImageFrame) -> EvalSample:
    check_images(record)
    fitted, images = prepare_record(record, policy, None, frame if policy.coord_format == "pixel" else None)
    if images is None:
        images = [str(p) for p in record.image_paths()]
    where = f"{record.source}: " if record.source else ""
    prefix = None if policy.prefix is None else render_prefix(policy.prefix, record.metadata, where) + PREFIX_SEPARATOR
    return EvalSample(index, dataset, record, build_conversation(images, policy.user_prompt, None),
                      (fitted.width, fitted.height), prefix)


def read_records(path: Path, num: int | None) -> list[tuple[int, Record]]:
    try:
        index = JsonlIndex(path)
        n = len(index) if num is None else min(num, len(index))
        return [(i, index[i]) for i in range(n)]
    except FileNotFoundError:
        raise EvalError(f"split file {path} does not exist; build the data or fix the fusion config") from None
    except RecordError as e:
        raise EvalError(f"bad record in {path}:\n{e}") from None


def target_text(sample: EvalSample, policy: SamplePolicy) -> str:
    """The target training teaches for this record (unaugmented), for the generation budget check."""
    record = sample.record
    if (record.width, record.height) != sample.seen_size:  # pixel coordinates in the fitted frame
        objects = geometry.resize(record.objects, record.width, record.height, *sample.seen_size)
        record = dataclasses.replace(record, objects=tuple(DenseObject.from_dict(o) for o in objects),
                                     width=sample.seen_size[0], height=sample.seen_size[1])
    return render_target(record, mode=policy.mode, coord_format=policy.coord_format, ordering=policy.ordering,
                         prefix=policy.prefix)


def to_eval_image(sample: EvalSample, policy: SamplePolicy, text: str, finish_reason: str | None,
                  logprobs: TokenLogprobs | None = None) -> tuple[EvalImage, ImagePrediction, str]:
    """Score-ready image, its predictions.jsonl line, and the confidence rule that applied."""
    r = sample.record
    parsed = parse_completion(text, coord_format=policy.coord_format, width=r.width, height=r.height,
                              seen_size=sample.seen_size, prefix=sample.prefix, logprobs=logprobs)
    dropped = dict(parsed.parse.dropped)
    error = parsed.parse.error
    image = EvalImage(tuple(r.objects), parsed.objects, r.width, r.height, sample.dataset, text, finish_reason,
                      parsed.parse.valid, dropped,
                      None if error is None else f"{error.message} (line {error.line}, column {error.col})")
    line = ImagePrediction(sample.index, r.images[0] if r.images else "", parsed.objects, sample.dataset, text,
                           finish_reason, dropped, parsed.parse.valid)
    return image, line, parsed.confidence


def images_from_predictions(preds: Sequence[ImagePrediction], records: dict[tuple[str, int], Record],
                            default_dataset: str) -> list[EvalImage]:
    """Pair a predictions file's lines with the split's records (by dataset and index)."""
    out = []
    for p in preds:
        key = (p.dataset or default_dataset, p.index)
        if key not in records:
            raise EvalError(f"predictions name record {p.index} of dataset {key[0]!r}, which is not in the evaluated "
                            "split (check --split, the dataset names, and --num)")
        r = records[key]
        out.append(EvalImage(tuple(r.objects), p.objects, r.width, r.height, key[0], p.completion, p.finish_reason,
                             p.parse_valid, dict(p.dropped)))
    return out
