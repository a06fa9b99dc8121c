"""The `hf` rollout backend: `generate` on the training model itself (CPU smoke runs, debugging).

Each call runs under the ms-swift template's `generate_context()` (inference encoding mode, the
model's multimodal post-encode hooks off), with the model in eval mode and no gradients, and
restores both afterwards. Prompts are encoded by a copy of the trainer's template exactly as
ms-swift's own `TransformersEngine` does (`padding_free` off, left padding), so `prompt_ids` are
the ids the model conditioned on. The model comes from `model_context()`, a context manager
yielding the unwrapped module (the trainer passes ms-swift's `unwrap_model_for_generation`, which
also gathers ZeRO-3 parameters); generation itself runs no collective.

Greedy decoding generates the whole batch in one call. Sampling generates request by request,
each under its own seed derived from (`seed`, request index), inside `torch.random.fork_rng`, so
the training RNG stream is untouched and a rollout does not depend on its batch neighbours.
Completions are decoded with special tokens kept (coordinate tokens `<|coord_k|>` survive); the
stop token (end of turn / eos) is kept in `token_ids` and left out of `text`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from copy import copy
from typing import Any

import numpy as np
import torch

from .base import RolloutError, RolloutRequest, RolloutResult

ModelContext = Callable[[], AbstractContextManager[Any]]


def request_seed(seed: int, index: int) -> int:
    """The sampling seed of request ``index`` in a call seeded with ``seed`` (a 63-bit int)."""
    return int(np.random.SeedSequence([int(seed) & (2**63 - 1), int(index)]).generate_state(1, np.uint64)[0] >> 1)


def inference_template(template: Any, model: Any = None) -> Any:
    """A copy of ``template`` for generation (as ms-swift's rollout engine builds it).

    Call inside ``template.generate_context()`` so the copy is in inference mode.
    """
    tpl = copy(template)  # ms-swift's __getstate__ drops the model and the hook handles
    tpl.padding_free = False
    tpl.packing = False
    tpl.sequence_parallel_size = 1
    if model is not None and getattr(tpl, "use_model", False):
        tpl.model = model
    return tpl


def encode_prompt(template: Any, request: RolloutRequest) -> dict[str, Any]:
    """The inference encoding of ``request`` (prompt + generation prompt) by an inference-mode template."""
    return template.encode({"messages": [dict(m) for m in request.messages], "images": list(request.images)})


def local_prompt_ids(template: Any, request: RolloutRequest) -> list[int]:
    """The trainer's local encoding of a rollout prompt (the ids every backend must condition on)."""
    with template.generate_context():
        return [int(t) for t in encode_prompt(inference_template(template), request)["input_ids"]]


@contextlib.contextmanager
def _eval_no_grad(model: Any) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _stop_ids(template: Any, model: Any) -> list[int]:
    tokenizer = template.tokenizer
    ids: list[int] = []
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in ([eos] if isinstance(eos, int) else list(eos or [])) + [tokenizer.eos_token_id]:
        if value is not None and int(value) not in ids:
            ids.append(int(value))
    suffix = template.template_meta.suffix
    for piece in suffix if isinstance(suffix, list) else [suffix]:
        if isinstance(piece, str):
            toks = tokenizer.encode(piece, add_special_tokens=False)
            if len(toks) == 1 and toks[0] not in ids:
                ids.append(int(toks[0]))
    return ids


class HfRolloutBackend:
    """Rollouts with ``model.generate`` on the (unwrapped) training model."""

    name = "hf"

    def __init__(self, template: Any, model_context: ModelContext) -> None:
        self.template = template
        self.model_context = model_context

    def generate(self, requests: Sequence[RolloutRequest], *, max_new_tokens: int, temperature: float,
                 top_p: float, do_sample: bool, seed: int | None = None) -> list[RolloutResult]:
        if not requests:
            return []
        if do_sample and seed is None:
            raise RolloutError("hf backend: sampling needs a seed (the trainer derives one per step and rank)")
        with self.model_context() as model, self.template.generate_context(), _eval_no_grad(model):
            tpl = inference_template(self.template, model)
            encoded = [encode_prompt(tpl, r) for r in requests]
            prompts = [[int(t) for t in e["input_ids"]] for e in encoded]
            stop = _stop_ids(tpl, model)
            config = _generation_config(max_new_tokens, temperature, top_p, do_sample, stop, tpl.tokenizer)
            groups = [[i] for i in range(len(requests))] if do_sample else [list(range(len(requests)))]
            completions: list[list[int]] = [[] for _ in requests]
            for group in groups:
                rng = torch.random.fork_rng(devices=_cuda_devices(model)) if do_sample else contextlib.nullcontext()
                with rng:
                    if do_sample:
                        torch.manual_seed(request_seed(seed, group[0]))
                    rows = self._generate(model, tpl, [encoded[i] for i in group], config)
                for i, row in zip(group, rows):
                    completions[i] = row
            return [self._result(tpl, ids, prompt, stop, max_new_tokens) for ids, prompt in zip(completions, prompts)]

    @staticmethod
    def _generate(model: Any, tpl: Any, encoded: list[dict[str, Any]], config: Any) -> list[list[int]]:
        batch = tpl.data_collator(encoded)
        device = next(model.parameters()).device
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        _, batch = tpl.pre_forward_hook(model, None, batch)
        n_prompt = batch["attention_mask"].shape[1]
        out = tpl.generate(model, **batch, generation_config=config)
        sequences = out if torch.is_tensor(out) else out["sequences"]
        return [row.tolist() for row in sequences[:, n_prompt:]]

    @staticmethod
    def _result(tpl: Any, ids: list[int], prompt: list[int], stop: list[int], max_new_tokens: int) -> RolloutResult:
        cut = next((k for k, t in enumerate(ids) if t in stop), None)
        if cut is not None:
            ids, finish = ids[: cut + 1], "stop"
        else:
            finish = "length" if len(ids) >= max_new_tokens else None
        text_ids = ids[:-1] if finish == "stop" else ids
        text = tpl.tokenizer.decode(text_ids, skip_special_tokens=False, spaces_between_special_tokens=False)
        return RolloutResult(text=text, token_ids=ids, prompt_ids=prompt, finish_reason=finish)


def trainer_model_context(trainer: Any) -> ModelContext:
    """The unwrapped training model as a context manager (ZeRO-3 parameters gathered), for generation."""

    def model_context():
        from swift.utils import unwrap_model_for_generation

        return unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                           gather_deepspeed3_params=trainer.args.ds3_gather_for_generation)

    return model_context


def _cuda_devices(model: Any) -> list[int]:
    device = next(model.parameters()).device
    return [device.index or 0] if device.type == "cuda" else []


def _generation_config(max_new_tokens: int, temperature: float, top_p: float, do_sample: bool,
                       stop: list[int], tokenizer: Any) -> Any:
    from transformers import GenerationConfig

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop[0]
    kwargs: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "do_sample": bool(do_sample),
                              "eos_token_id": list(stop), "pad_token_id": int(pad)}
    if do_sample:
        kwargs.update(temperature=float(temperature), top_p=float(top_p), top_k=0)
    return GenerationConfig(**kwargs)


__all__ = ["HfRolloutBackend", "inference_template", "local_prompt_ids", "request_seed", "trainer_model_context"]
