"""`evaluate`: a checkpoint over a split -> predictions.jsonl, metrics.json, overlays, a summary table.

The stable programmatic API (docs/evaluation.md):

* ``evaluate(cfg, checkpoint, *, split="val", num=None, batch_size=8, out_dir=None, ...) -> dict``
  generates, scores and writes the outputs; returns the metrics dict (the content of metrics.json);
* ``score_predictions(cfg, predictions, *, split="val", num=None, out_dir=None) -> dict`` scores an
  existing predictions.jsonl against the split without generating.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src.config import TrainingConfig

from .completion import CONSTANT, MEAN_TOKEN_LOGPROB
from .predictions import PredictionsError, read_predictions, write_predictions
from .source import EvalError, check_checkpoint, split_targets

logger = logging.getLogger(__name__)
BUDGET_MARGIN = 32  # tokens beyond the longest target when max_new_tokens is not given
NUM_OVERLAYS = 8


def _policies(cfg: TrainingConfig, split: str) -> list[tuple[Any, Path, Any]]:
    from src.datasets.builder import sample_policy

    out = []
    for target, path in split_targets(cfg, split):
        try:
            policy = sample_policy(cfg, target, train=False)
        except ValueError as e:
            raise EvalError(str(e)) from None
        if policy.mode != "dense":
            raise EvalError(f"fusion target {target.name!r} is in {policy.mode} mode: detection evaluation needs dense "
                            "targets (objects with geometry); set custom.use_summary=false or evaluate another target")
        out.append((target, path, policy))
    return out


def split_records(cfg: TrainingConfig, split: str, num: int | None) -> list[tuple[str, int, Any, Any]]:
    """``(dataset, index, record, policy)`` of the first ``num`` records of the split (targets in order)."""
    from .samples import check_images, read_records

    out: list[tuple[str, int, Any, Any]] = []
    for target, path, policy in _policies(cfg, split):
        left = None if num is None else num - len(out)
        if left is not None and left <= 0:
            break
        out += [(target.name, i, r, policy) for i, r in read_records(path, left)]
    if not out:
        raise EvalError(f"split {split} has no records to evaluate")
    for _, _, record, _ in out:
        check_images(record)
    return out


def default_out_dir(cfg: TrainingConfig, checkpoint: Path, split: str) -> Path:
    run_dir = cfg.output_dir or checkpoint.parent
    return run_dir / "eval" / checkpoint.name / split


def _budget(samples: Sequence[Any], policies: Sequence[Any], tokenizer: Any, max_new_tokens: int | None) -> int:
    from .samples import target_text

    lengths = [len(tokenizer.encode(target_text(s, p), add_special_tokens=False)) + 1 for s, p in zip(samples, policies)]
    longest = max(lengths)
    if max_new_tokens is None:
        return longest + BUDGET_MARGIN
    if max_new_tokens < longest:
        k = lengths.index(longest)
        s = samples[k]
        raise EvalError(f"max_new_tokens {max_new_tokens} is smaller than the {longest} tokens the target of record "
                        f"{s.index} of {s.dataset} needs (its ground truth plus the end-of-turn token), so that image "
                        f"could never be answered completely; raise --max-new-tokens to at least {longest}")
    return max_new_tokens


def _check_fingerprint(template: Any, cfg: TrainingConfig, expected: str | None) -> None:
    from src.audit.template_fingerprint import TemplateDriftError, verify_run_template

    if expected is None:
        return
    try:
        verify_run_template(template, expected, model=str(cfg.model.get("model")))
    except TemplateDriftError as e:
        raise EvalError(f"the evaluation template does not render like the run's: {e}. The checkpoint's tokenizer or "
                        "chat template differs from the one recorded in the run manifest, so prompts would not be "
                        "those the model was trained on") from None


def evaluate(cfg: TrainingConfig, checkpoint: Path, *, split: str = "val", num: int | None = None,
             batch_size: int = 8, out_dir: Path | None = None, backend: str = "transformers",
             max_new_tokens: int | None = None, num_overlays: int = NUM_OVERLAYS,
             template_fingerprint: str | None = None, show: bool = True, coco: bool = False) -> dict[str, Any]:
    """Generate on ``split`` with ``checkpoint``, score, write the four outputs (``coco``: and
    predictions_coco.json); return the metrics."""
    from .generate import Engine

    checkpoint = Path(checkpoint)
    check_checkpoint(checkpoint)
    rows = split_records(cfg, split, num)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(cfg, checkpoint, split)
    engine = Engine(cfg, checkpoint, backend=backend, batch_size=batch_size, max_new_tokens=max_new_tokens or 1024)
    _check_fingerprint(engine.template, cfg, template_fingerprint or cfg.custom.template_fingerprint)
    meta = {"checkpoint": str(checkpoint), "split": split, "backend": backend}
    return evaluate_with_engine(engine, rows, out_dir=out_dir, max_new_tokens=max_new_tokens,
                                num_overlays=num_overlays, show=show, meta=meta, coco=coco)


def evaluate_with_engine(engine: Any, rows: Sequence[tuple[str, int, Any, Any]], *, out_dir: Path,
                         max_new_tokens: int | None = None, num_overlays: int = NUM_OVERLAYS, show: bool = True,
                         meta: dict[str, Any] | None = None, coco: bool = False) -> dict[str, Any]:
    """Prompts of ``rows`` (from :func:`split_records`) -> generation on a loaded ``Engine`` -> scored outputs."""
    from src.datasets.image_frame import ImageFrame

    from .samples import build_sample, to_eval_image

    frame = ImageFrame.of_template(engine.template)
    samples = [build_sample(r, i, name, policy, frame) for name, i, r, policy in rows]
    policies = [policy for *_, policy in rows]
    budget = _budget(samples, policies, engine.template.tokenizer, max_new_tokens)
    _ = engine.engine  # every check passed: load the model now (not timed)
    start = time.perf_counter()
    with _progress(len(samples), show) as advance:
        gens = engine.generate([s.conversation for s in samples], budget, progress=advance)
    seconds = time.perf_counter() - start
    results = [to_eval_image(s, p, g.text, g.finish_reason, g.logprobs) for s, p, g in zip(samples, policies, gens)]
    images, lines = [r[0] for r in results], [r[1] for r in results]
    rules = {r[2] for r in results}
    confidence = MEAN_TOKEN_LOGPROB if rules == {MEAN_TOKEN_LOGPROB} else CONSTANT
    meta = {**(meta or {}), "max_new_tokens": budget, "generation_seconds": seconds,
            "images_per_second": len(samples) / seconds if seconds > 0 else None,
            "confidence_fallbacks": sum(1 for r in results if r[2] != MEAN_TOKEN_LOGPROB)}
    sources = [(s.dataset, s.index, s.record) for s in samples]
    return finish(images, lines, sources, confidence, meta, out_dir, num_overlays, show, coco)


def finish(images: Sequence[Any], lines: Sequence[Any] | None, sources: Sequence[Any], confidence: str,
           meta: dict[str, Any], out_dir: Path, num_overlays: int, show: bool, coco: bool = False) -> dict[str, Any]:
    from .overlay import write_overlays
    from .report import print_summary
    from .score import score_images

    metrics = score_images(images, confidence=confidence)
    metrics["meta"] = meta
    out_dir.mkdir(parents=True, exist_ok=True)
    if lines is not None:
        write_predictions(out_dir / "predictions.jsonl", lines)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if coco:
        _write_coco(out_dir, sources, images, show)
    if num_overlays > 0:
        write_overlays(out_dir / "overlays", sources[:num_overlays], images[:num_overlays])
    if show:
        print_summary(metrics, out_dir)
    return metrics


def score_predictions(cfg: TrainingConfig, predictions: Path, *, split: str = "val", num: int | None = None,
                      out_dir: Path | None = None, num_overlays: int = NUM_OVERLAYS, show: bool = True,
                      coco: bool = False) -> dict[str, Any]:
    """Score an existing predictions.jsonl (ours or another system's) against ``split``; write metrics.json."""
    from .samples import images_from_predictions

    try:
        preds = read_predictions(Path(predictions))
    except FileNotFoundError:
        raise EvalError(f"predictions file {predictions} does not exist") from None
    except PredictionsError as e:
        raise EvalError(str(e)) from None
    rows = split_records(cfg, split, num)
    records = {(name, i): r for name, i, r, _ in rows}
    images = images_from_predictions(preds, records, rows[0][0])
    sources = [(im.dataset, p.index, records[(im.dataset, p.index)]) for p, im in zip(preds, images)]
    scores = {o.score for p in preds for o in p.objects}
    confidence = "file" if len(scores) > 1 else CONSTANT
    out_dir = Path(out_dir) if out_dir is not None else Path(predictions).parent
    meta = {"predictions": str(predictions), "split": split}
    return finish(images, None, sources, confidence, meta, out_dir, num_overlays, show, coco)


def _write_coco(out_dir: Path, sources: Sequence[Any], images: Sequence[Any], show: bool) -> None:
    from src.datasets.convert.model import ConvertError
    from src.datasets.records import RecordError

    from .coco_export import write_coco_predictions

    try:
        written = write_coco_predictions(out_dir, sources, images)
    except (ConvertError, RecordError) as e:
        raise EvalError(f"--coco: {e}") from None
    for path, n, left_out in written:
        message = f"{path}: {n} detections" + (f"; {left_out} whose desc is no category of the split were left out "
                                               "(they lower no AP in bbox/map either)" if left_out else "")
        if show:
            print(message)
        elif left_out:
            logger.warning(message)


class _progress:
    """A rich progress bar over images (a no-op when not shown)."""

    def __init__(self, total: int, show: bool) -> None:
        self.total, self.show = total, show

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        self.bar.start()
        task = self.bar.add_task("images", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self.bar.stop()
