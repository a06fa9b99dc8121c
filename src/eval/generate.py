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
from typing import Any, Self

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


class ChosenTokenLogprobs:
    """Log-probability of each generated token, recorded while the model generates (transformers backend).

    ms-swift's ``logprobs=True`` makes ``generate`` keep a float32 copy of the full-vocabulary logits of every
    step (``output_logits``) and then ranks the vocabulary per token; on a real model and batch that is
    gigabytes held until the batch ends. Here two hooks read what the model computes anyway: the logits
    module's output of each step is log-softmaxed into one reused buffer, and the token chosen from it is
    read from the next step's input ids (a pre-hook on the input embeddings) -- or, for a sequence's last
    token, from the returned token ids. Same values as ms-swift's path (``log_softmax(raw logits)[chosen]``;
    tests/eval/test_generate.py), one [batch, vocab] buffer instead of one per step.
    """

    def __init__(self, model: Any) -> None:
        self._embeddings = model.get_input_embeddings()
        self._logits = model.get_output_embeddings()
        self._handles: list[Any] = []
        self._buffer: Any = None
        self._pending = False
        self.steps: list[tuple[list[int], list[float]]] = []  # per decode step: (chosen id, log p) per row

    def __enter__(self) -> Self:
        self.steps, self._pending = [], False
        self._handles = [self._embeddings.register_forward_pre_hook(self._on_input_ids),
                         self._logits.register_forward_hook(self._on_logits)]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _on_logits(self, module: Any, args: Any, output: Any) -> None:
        import torch

        last = output[:, -1, :].float()
        if self._buffer is None or self._buffer.shape != last.shape:
            self._buffer = torch.empty_like(last)
        torch.log_softmax(last, -1, out=self._buffer)
        self._pending = True

    def _on_input_ids(self, module: Any, args: Any) -> None:
        ids = args[0]
        if self._pending and ids.dim() == 2 and ids.shape[1] == 1:  # a decode step: the tokens just chosen
            self.steps.append((ids[:, 0].tolist(), self._buffer.gather(-1, ids).squeeze(-1).tolist()))
            self._pending = False

    def rows(self, token_ids: Sequence[Sequence[int]], pad_id: int | None) -> list[list[float]]:
        """Per row of the generated batch (in order), the log-probabilities of its returned ``token_ids`` (the
        engine's generated ids without padding, so steps that fed ``pad_id`` are skipped as it skips them)."""
        out = []
        for row, ids in enumerate(token_ids):
            pairs = [(step[0][row], step[1][row]) for step in self.steps if step[0][row] != pad_id]
            if len(pairs) == len(ids) - 1 and self._pending:  # the last step's token is never fed back
                pairs.append((ids[-1], self._buffer[row, ids[-1]].item()))
            if [token for token, _ in pairs] != list(ids):
                raise RuntimeError(f"token log-probabilities out of step with the generated ids of row {row} "
                                   f"({len(self.steps)} decode steps recorded, {len(ids)} tokens returned)")
            out.append([value for _, value in pairs])
        return out


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
        self._recorder: ChosenTokenLogprobs | None = None
        self.log_probabilities = True  # False: no per-token log-probabilities (every object scores 1.0)

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
            self._engine = TransformersEngine(model, template=self.template, max_batch_size=self.batch_size)
            self._recorder = ChosenTokenLogprobs(model)
            return
        try:
            from swift.pipelines.infer.infer import SwiftInfer

            self._engine = SwiftInfer.get_infer_engine(self.args, self.template)
        except ImportError as e:
            raise EvalError(f"--backend vllm needs vLLM (pip install -e '.[gpu]'): {e}") from None

    def request_config(self, max_new_tokens: int) -> Any:
        """Greedy; log-probabilities from vLLM itself, or recorded by :class:`ChosenTokenLogprobs` on the returned
        token ids (transformers)."""
        from swift.infer_engine import RequestConfig

        recorded = self.backend == "transformers"
        return RequestConfig(max_tokens=max_new_tokens, temperature=0.0, logprobs=self.log_probabilities and not recorded,
                             return_details=self.log_probabilities and recorded)

    def generate(self, conversations: Sequence[dict[str, Any]], max_new_tokens: int,
                 progress: Callable[[int], None] | None = None) -> list[Generation]:
        """One greedy completion per conversation (ms-swift messages + images), in order."""
        from swift.infer_engine import InferRequest

        out: list[Generation] = []
        config = self.request_config(max_new_tokens)
        for start in range(0, len(conversations), self.batch_size):
            chunk = conversations[start:start + self.batch_size]
            requests = [InferRequest(messages=c["messages"], images=list(c["images"])) for c in chunk]
            out += self._infer(requests, config)
            if progress is not None:
                progress(len(chunk))
        return out

    def _infer(self, requests: list[Any], config: Any) -> list[Generation]:
        """One engine call (at most ``batch_size`` requests: one ``generate`` batch)."""
        engine = self.engine
        if not config.return_details:
            return [self._generation(r) for r in engine.infer(requests, config, use_tqdm=False)]
        with self._recorder as recorder:
            responses = engine.infer(requests, config, use_tqdm=False)
        choices = [self._choice(r) for r in responses]
        tokenizer = self.template.tokenizer
        logprobs = recorder.rows([c.token_ids for c in choices], tokenizer.pad_token_id)
        return [Generation(c.message.content or "", c.finish_reason,
                           TokenLogprobs(tuple(tokenizer.decode(t) for t in c.token_ids), tuple(lp)))
                for c, lp in zip(choices, logprobs)]

    @staticmethod
    def _choice(response: Any) -> Any:
        if isinstance(response, Exception):
            raise EvalError(f"the inference engine failed on a request: {type(response).__name__}: {response}")
        return response.choices[0]

    @classmethod
    def _generation(cls, response: Any) -> Generation:
        choice = cls._choice(response)
        content = (choice.logprobs or {}).get("content") if isinstance(choice.logprobs, dict) else None
        logprobs = None
        if content:
            logprobs = TokenLogprobs(tuple(t["token"] for t in content), tuple(float(t["logprob"]) for t in content))
        return Generation(choice.message.content or "", choice.finish_reason, logprobs)
