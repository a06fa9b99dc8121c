"""Generation through ms-swift's own inference engines (`TransformersEngine`, `VllmEngine`).

The engine is built the way ms-swift's `swift infer` builds it: `InferArguments` from the run's
model and template settings (every `build_swift_kwargs` value that `InferArguments` accepts; the
checkpoint's own `args.json` is not read), `prepare_model_template` for the transformers backend
(LoRA checkpoints: the adapter on the base model the config names), `SwiftInfer.get_infer_engine`
for vLLM. Decoding is greedy (`temperature=0`) with per-token log-probabilities, which give each
object its confidence (src/eval/completion.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.config import TrainingConfig
from src.config.swift_args import build_swift_kwargs

from .completion import TokenLogprobs
from .source import EvalError, is_lora

logger = logging.getLogger(__name__)
BACKENDS = ("transformers", "vllm")
# build_swift_kwargs values that describe training data or outputs, never inference
_NOT_FOR_INFERENCE = {"dataset", "val_dataset", "adapters", "output_dir", "logging_dir", "resume_from_checkpoint",
                      "ckpt_dir"}


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str | None
    logprobs: TokenLogprobs | None


def infer_arguments(cfg: TrainingConfig, checkpoint: Path, backend: str, batch_size: int, max_new_tokens: int) -> Any:
    from swift.arguments import InferArguments

    fields = {f.name for f in dataclasses.fields(InferArguments)}
    kwargs = {k: v for k, v in build_swift_kwargs(cfg).items() if k in fields and k not in _NOT_FOR_INFERENCE}
    if is_lora(checkpoint):
        kwargs["adapters"] = [str(checkpoint)]
    else:
        kwargs["model"] = str(checkpoint)
    kwargs.update(infer_backend=backend, max_batch_size=batch_size, max_new_tokens=max_new_tokens,
                  temperature=0.0, load_args=False)
    return InferArguments(**kwargs)


def chosen_logprob(logits: Any, chosen: Any) -> Any:
    """``log softmax(logits)[chosen]`` per row, ``logit(chosen) - logsumexp(logits)``, without a [batch, vocab]
    log-softmax: the max-shifted exponentials are summed in place (one temporary; about 30% faster than
    ``torch.logsumexp`` on CPU, the same values)."""
    top = logits.amax(-1, keepdim=True)
    lse = top.squeeze(-1) + (logits - top).exp_().sum(-1).log_()
    return logits.gather(-1, chosen[:, None]).squeeze(-1) - lse


def chosen_logprob_engine(base: type) -> type:
    """``TransformersEngine`` whose per-token log-probabilities are those of the chosen tokens only.

    Upstream ``preprocess_logits`` also ranks the whole vocabulary (``argsort`` over ~150k logits) for
    every generated token and sample, for ``top_logprobs`` we never ask for: on CPU that made greedy
    decoding about 9x slower. Same return structure (per sample, per step ``{token_id: logprob}``),
    computed per step as ``logit(chosen) - logsumexp(logits)`` over the batch.
    """

    class ChosenLogprobEngine(base):
        @staticmethod
        def preprocess_logits(batched_logits, batched_generate_ids, top_logprobs):
            import torch

            if batched_logits is None:
                return None
            ids = batched_generate_ids[:, : len(batched_logits)]
            steps = [chosen_logprob(logits.float(), ids[:, j]) for j, logits in enumerate(batched_logits)]
            logprobs = torch.stack(steps, 1).tolist()
            return [[{t: v} for t, v in zip(row_ids, row)] for row_ids, row in zip(ids.tolist(), logprobs)]

    return ChosenLogprobEngine


class Engine:
    """An ms-swift inference engine. Construction builds only the processor and template (light: the
    fingerprint, frame and budget checks run on it); the model loads on first use (:meth:`load`)."""

    def __init__(self, cfg: TrainingConfig, checkpoint: Path, *, backend: str = "transformers", batch_size: int = 8,
                 max_new_tokens: int = 1024) -> None:
        if backend not in BACKENDS:
            raise EvalError(f"--backend must be one of {BACKENDS}, got {backend!r}")
        self.args = infer_arguments(cfg, checkpoint, backend, batch_size, max_new_tokens)
        self.backend = backend
        self.batch_size = batch_size
        _, processor = self.args.get_model_processor(load_model=False)
        self.template = self.args.get_template(processor)
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The loaded ms-swift engine (loads the model the first time)."""
        if self._engine is None:
            self.load()
        return self._engine

    def load(self) -> None:
        if self.backend == "transformers":
            from swift.infer_engine import TransformersEngine
            from swift.pipelines.utils import prepare_model_template

            model, self.template = prepare_model_template(self.args)
            self._engine = chosen_logprob_engine(TransformersEngine)(model, template=self.template,
                                                                     max_batch_size=self.batch_size)
            return
        try:
            from swift.pipelines.infer.infer import SwiftInfer

            self._engine = SwiftInfer.get_infer_engine(self.args, self.template)
        except ImportError as e:
            raise EvalError(f"--backend vllm needs vLLM (pip install -e '.[gpu]'): {e}") from None

    def request_config(self, max_new_tokens: int) -> Any:
        from swift.infer_engine import RequestConfig

        return RequestConfig(max_tokens=max_new_tokens, temperature=0.0, logprobs=True)

    def generate(self, conversations: Sequence[dict[str, Any]], max_new_tokens: int,
                 progress: Callable[[int], None] | None = None) -> list[Generation]:
        """One greedy completion per conversation (ms-swift messages + images), in order."""
        from swift.infer_engine import InferRequest

        out: list[Generation] = []
        config = self.request_config(max_new_tokens)
        for start in range(0, len(conversations), self.batch_size):
            chunk = conversations[start:start + self.batch_size]
            requests = [InferRequest(messages=c["messages"], images=list(c["images"])) for c in chunk]
            responses = self.engine.infer(requests, config, use_tqdm=False)
            out += [self._generation(r) for r in responses]
            if progress is not None:
                progress(len(chunk))
        return out

    @staticmethod
    def _generation(response: Any) -> Generation:
        if isinstance(response, Exception):
            raise EvalError(f"the inference engine failed on a request: {type(response).__name__}: {response}")
        choice = response.choices[0]
        content = (choice.logprobs or {}).get("content") if isinstance(choice.logprobs, dict) else None
        logprobs = None
        if content:
            logprobs = TokenLogprobs(tuple(t["token"] for t in content), tuple(float(t["logprob"]) for t in content))
        return Generation(choice.message.content or "", choice.finish_reason, logprobs)
