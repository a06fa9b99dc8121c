"""Channel-B batches: rollouts -> targets -> ms-swift encodings with token-level labels.

:class:`Stage2Collator` lifts every sample's :class:`~src.datasets.stage2_rows.Stage2Source` out
of a batch (ms-swift's collator would drop it) into ``batch[STAGE2_BATCH_KEY]``.

:class:`ChannelBBuilder` turns one micro-batch's sources into Channel-B items:

1. one rollout request per sample (prompt-only conversation + images) with ``prompt_ids``, the
   trainer's local inference encoding; a backend reporting other prompt ids fails the run;
2. ``channel_b_sample`` (salvage parse -> strict filter -> matching -> target; an invalid rollout
   falls back to the empty prefix with every ground truth injected) and ``tokenize_target``;
3. the ms-swift template encodes the conversation with the Channel-B assistant text (pixel inputs,
   m-RoPE inputs, exactly as Channel A), then its labels are REPLACED: ``-100`` over the prompt,
   ``tokenize_target``'s labels over the response, and over the template's end-of-turn suffix
   (Qwen: ``<|im_end|>\\n``, appended after the closing ``]}`` exactly as in Channel A) its own
   ids iff ``closure_supervision``. The template's ids must be prompt + target + suffix, token for
   token, or :class:`ChannelBAlignmentError` says where they differ (template / tokenizer drift
   would silently change the objective). ms-swift tokenizes the response in one piece with
   ``add_special_tokens=False``, exactly as ``tokenize_target`` does, so the target text carries no
   end-of-turn token itself (``ChannelBPolicy.end_of_turn=None``) and the suffix is the template's,
   as in Channel A: an invalid rollout then trains exactly the Channel-A sequence.
A Channel-B sequence longer than ``template.max_length`` falls back to the all-ground-truth
target (the Channel-A text, which fit), counted as ``length_fallbacks``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from src.datasets.fusion_dataset import DATASET_NAME_KEY
from src.datasets.stage2_rows import STAGE2_KEY, Stage2Source
from src.rollout.base import RolloutBackend, RolloutError, RolloutRequest, RolloutResult
from src.rollout.hf_backend import local_prompt_ids
from src.stage2.metrics import ChannelBCounts
from src.stage2.pipeline import ChannelBPolicy, ChannelBSample, channel_b_sample
from src.stage2.rollout_health import completion_health
from src.stage2.target_tokens import IGNORE_INDEX, tokenize_target

logger = logging.getLogger(__name__)

STAGE2_BATCH_KEY = "stage2_sources"


class ChannelBAlignmentError(ValueError):
    """The template's encoding of a Channel-B sequence differs from the tokens labels were built for."""


class Stage2Collator:
    """Wrap a data collator; put the samples' Channel-B sources into ``batch[STAGE2_BATCH_KEY]``."""

    def __init__(self, inner: Callable[..., dict[str, Any]]) -> None:
        self.inner = inner

    def __call__(self, batch: list[Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        sources = [(s.get(STAGE2_KEY), s.get(DATASET_NAME_KEY)) for s in batch if isinstance(s, Mapping)]
        res = self.inner(batch, *args, **kwargs)
        if any(src is not None for src, _ in sources):
            res[STAGE2_BATCH_KEY] = sources
        return res


@dataclass(frozen=True)
class Decoding:
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    do_sample: bool = False


@dataclass
class BuiltChannelB:
    items: list[dict[str, Any]]
    samples: list[ChannelBSample]
    results: list[RolloutResult]
    counts: ChannelBCounts = field(default_factory=ChannelBCounts)
    length_fallbacks: int = 0


def _first_difference(a: Sequence[int], b: Sequence[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _show(tokenizer: Any, ids: Sequence[int], at: int) -> str:
    lo = max(0, at - 8)
    return repr(tokenizer.decode(list(ids[lo: at + 8]), skip_special_tokens=False))


def aligned_labels(input_ids: Sequence[int], prompt_ids: Sequence[int], target_ids: Sequence[int],
                   target_labels: Sequence[int], tokenizer: Any, suffix_ids: Sequence[int] = (),
                   supervise_suffix: bool = True, where: str = "") -> list[int]:
    """Labels of ``input_ids`` = prompt + target + suffix (checked): ``-100`` over the prompt, the
    target labels, then the suffix ids (or ``-100`` when not ``supervise_suffix``)."""
    n, m = len(prompt_ids), len(target_ids)
    expected = [*prompt_ids, *target_ids, *suffix_ids]
    if list(input_ids) != expected:
        at = _first_difference(input_ids, expected)
        part = "prompt" if at < n else "assistant response" if at < n + m else "end-of-turn suffix"
        raise ChannelBAlignmentError(
            f"{where}the ms-swift template encodes the Channel-B sequence differently from the tokens its "
            f"labels were built for: first difference at token {at} (in the {part}; prompt = {n} tokens, "
            f"response = {m}, suffix = {len(suffix_ids)}, template total = {len(input_ids)}). Template: "
            f"{_show(tokenizer, input_ids, at)}; expected: {_show(tokenizer, expected, at)}. The template "
            "must encode the prompt as for generation, tokenize the response in one piece and append its "
            "end-of-turn suffix; check the template / tokenizer versions.")
    suffix = [int(t) for t in suffix_ids] if supervise_suffix else [IGNORE_INDEX] * len(suffix_ids)
    return [IGNORE_INDEX] * n + [int(t) for t in target_labels] + suffix


def template_suffix_ids(template: Any) -> list[int]:
    """The token ids of the template's end-of-turn suffix (Qwen: ``<|im_end|>\\n``)."""
    ids: list[int] = []
    for piece in template.template_meta.suffix:
        if isinstance(piece, str):
            ids += template.tokenizer.encode(piece, add_special_tokens=False)
        else:
            ids += [int(t) for t in piece]
    return ids


def check_prompt_ids(request: RolloutRequest, result: RolloutResult, backend: str, tokenizer: Any,
                     index: int) -> None:
    """A backend's reported prompt ids must equal the trainer's local encoding."""
    if result.prompt_ids is None or request.prompt_ids is None or list(result.prompt_ids) == list(request.prompt_ids):
        return
    local, remote = list(request.prompt_ids), list(result.prompt_ids)
    at = _first_difference(local, remote)
    raise RolloutError(
        f"rollout backend {backend!r} conditioned request {index} on other prompt tokens than the trainer's "
        f"local encoding: first difference at token {at} (local {len(local)} tokens, backend {len(remote)}). "
        f"Local: {_show(tokenizer, local, at)}; backend: {_show(tokenizer, remote, at)}. The rollout "
        "model must use the same template and tokenizer as the trainer (same model directory, same "
        "template and max_pixels).")


@dataclass
class ChannelBBuilder:
    template: Any  # the trainer's ms-swift template (train mode)
    backend: RolloutBackend
    policy: ChannelBPolicy
    decoding: Decoding

    @property
    def tokenizer(self) -> Any:
        return self.template.tokenizer

    def build(self, sources: Iterable[tuple[Stage2Source, str | None]], seed: int | None = None) -> BuiltChannelB:
        pairs = list(sources)
        requests = []
        for src, _ in pairs:
            req = RolloutRequest(messages=src.messages, images=src.images)
            requests.append(RolloutRequest(req.messages, req.images, local_prompt_ids(self.template, req)))
        d = self.decoding
        start = time.perf_counter()
        results = self.backend.generate(requests, max_new_tokens=d.max_new_tokens, temperature=d.temperature,
                                        top_p=d.top_p, do_sample=d.do_sample, seed=seed)
        seconds = time.perf_counter() - start
        if len(results) != len(requests):
            raise RolloutError(f"rollout backend {self.backend.name!r} returned {len(results)} results "
                               f"for {len(requests)} requests")
        out = BuiltChannelB([], [], list(results))
        out.counts.add_rollout(seconds, sum(len(r.token_ids) for r in results))
        for i, ((src, name), req, res) in enumerate(zip(pairs, requests, results)):
            check_prompt_ids(req, res, self.backend.name, self.tokenizer, i)
            sample = self.sample(res.text, src)
            out.samples.append(sample)
            out.counts.add_sample(sample.filtered, sample.match)
            out.counts.health += completion_health(sample.parse, res.text, n_tokens=len(res.token_ids),
                                                   finish_reason=res.finish_reason, n_gt=len(src.gt_objects),
                                                   prefix=src.prefix)
            item, fallback = self.encode(sample, src, req.prompt_ids, f"Channel-B sample {i}: ")
            out.length_fallbacks += fallback
            if name is not None:
                item[DATASET_NAME_KEY] = name
            out.items.append(item)
        return out

    def sample(self, text: str, src: Stage2Source) -> ChannelBSample:
        return channel_b_sample(text, src.gt_objects, width=src.width, height=src.height,
                                policy=self.policy, prefix=src.prefix)

    def encode(self, sample: ChannelBSample, src: Stage2Source, prompt_ids: Sequence[int],
               where: str = "") -> tuple[dict[str, Any], bool]:
        """The template encoding of the Channel-B sequence with aligned labels (+ length fallback)."""
        from swift.template.base import MaxLengthError

        fallback = False
        try:
            return self._encode(sample, src, prompt_ids, where), fallback
        except MaxLengthError:
            fallback = True
        logger.warning("%sChannel-B sequence exceeds template.max_length (%s); training it on the "
                       "all-ground-truth target instead", where, self.template.max_length)
        return self._encode(self.sample("", src), src, prompt_ids, where), fallback

    def _encode(self, sample: ChannelBSample, src: Stage2Source, prompt_ids: Sequence[int],
                where: str) -> dict[str, Any]:
        tokens = tokenize_target(sample.target, self.tokenizer)
        item = self.template.encode(src.conversation(sample.target.text))
        ids = [int(t) for t in item["input_ids"]]
        item["labels"] = aligned_labels(ids, prompt_ids, tokens.input_ids, tokens.labels, self.tokenizer,
                                        template_suffix_ids(self.template), self.policy.closure_supervision, where)
        item.pop("loss_scale", None)  # the template's weights belong to its own labels
        return item


def collate(collator: Callable[[list[Any]], dict[str, Any]], items: list[dict[str, Any]]) -> dict[str, Any]:
    batch = collator(items)
    batch.pop(STAGE2_BATCH_KEY, None)
    return batch


__all__ = [
    "STAGE2_BATCH_KEY", "BuiltChannelB", "ChannelBAlignmentError", "ChannelBBuilder", "Decoding",
    "Stage2Collator", "aligned_labels", "check_prompt_ids", "collate", "template_suffix_ids",
]
