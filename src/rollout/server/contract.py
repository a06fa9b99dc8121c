"""The `swift rollout` HTTP contract of ms-swift 4.6.0, as pure functions over ms-swift's own models.

Payloads are built from `RolloutInferRequest` / `RequestConfig` and responses are parsed with
`RolloutOutput` / `ChatCompletionResponse` (`swift.infer_engine.protocol`), so a change of those
models in ms-swift breaks `tests/rollout/test_vllm_server_contract.py` instead of a run.

Routes (`swift/pipelines/infer/rollout.py`, `SwiftRolloutDeploy`; their paths are in transport.py):
- `GET /health/` -> `{"status": "ok"}`;
- `GET /get_world_size/` -> `{"world_size": tp * dp}`;
- `POST /infer/` with body `{"infer_requests": [RolloutInferRequest as dict], "request_config":
  RequestConfig as dict}` -> a JSON list of `RolloutOutput` (one per request, in order) whose
  `response` is a `ChatCompletionResponse`; with `return_details=True` it carries
  `prompt_token_ids` (what the server conditioned on) and `choices[0].token_ids` (the completion).

Images travel as base64 (PNG for PIL images, the file's own bytes for paths), the form ms-swift's
own GRPO client sends, so the server needs no access to the learner's files. Decoding is pinned
explicitly (`top_k=-1`, `min_p=0`, `repetition_penalty=1`): a `None` would make the server fall
back to the model's `generation_config.json` and silently change the rollout distribution.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from swift.infer_engine.protocol import (
    ChatCompletionResponse,
    MultiModalRequestMixin,
    RequestConfig,
    RolloutInferRequest,
    RolloutOutput,
)

from ..base import RolloutRequest, RolloutResult
from .transport import ContractError, load_json

_CHAT_RESPONSE = TypeAdapter(ChatCompletionResponse)


# ---------------------------------------------------------------- requests

def encode_image(image: Any) -> str:
    """base64 of a PIL image (PNG), a file path, raw bytes, or a `{"bytes", "path"}` row image."""
    if isinstance(image, Path):
        image = str(image)
    if isinstance(image, dict):
        if image.get("bytes"):
            image = image["bytes"]
        elif image.get("path"):
            image = str(image["path"])
        else:
            raise ContractError(f"image dict {sorted(image)} has neither bytes nor path")
    if isinstance(image, str) and not Path(image).is_file():
        raise ContractError(f"image path {image!r} is not a file (the learner reads it and sends its bytes)")
    if not isinstance(image, (str, bytes, bytearray)) and not hasattr(image, "save"):
        raise ContractError(f"cannot send an image of type {type(image).__name__} (PIL image, path or bytes)")
    return MultiModalRequestMixin.to_base64(bytes(image) if isinstance(image, bytearray) else image)


def _encode_inline_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with list content may carry images inline ({"type": "image", "image": PIL/path})."""
    messages = copy.deepcopy(messages)
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for item in content:
            if isinstance(item, dict) and item.get("type") == "image" and not _is_encoded(item.get("image")):
                item["image"] = encode_image(item["image"])
    return messages


def _is_encoded(value: Any) -> bool:
    return isinstance(value, str) and (value.startswith(("data:", "http://", "https://")) or len(value) > 1024)


def request_config(*, max_new_tokens: int, temperature: float, top_p: float, do_sample: bool,
                   seed: int | None = None) -> RequestConfig:
    """One completion per prompt with token ids; greedy when `do_sample` is false."""
    return RequestConfig(
        max_tokens=max_new_tokens,
        temperature=temperature if do_sample else 0.0,
        top_p=top_p if do_sample else 1.0,
        top_k=-1,
        min_p=0.0,
        repetition_penalty=1.0,
        n=1,
        seed=seed,
        stream=False,
        return_details=True,
    )


def build_infer_payload(requests: Sequence[RolloutRequest], *, max_new_tokens: int, temperature: float,
                        top_p: float, do_sample: bool, seed: int | None = None) -> dict[str, Any]:
    """The JSON body of `POST /infer/` (raises ContractError for an image it cannot send)."""
    infer_requests = []
    for index, req in enumerate(requests):
        try:
            images = [encode_image(image) for image in req.images]
            messages = _encode_inline_images(list(req.messages))
        except ContractError as exc:
            raise ContractError(f"request {index}: {exc}") from exc
        infer_requests.append(asdict(RolloutInferRequest(messages=messages, images=images)))
    config = request_config(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                            do_sample=do_sample, seed=seed)
    payload = {"infer_requests": infer_requests, "request_config": asdict(config)}
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"the request is not JSON-serializable ({exc}); messages must hold only "
                            "strings, numbers, lists and dicts") from exc
    return payload


# ---------------------------------------------------------------- responses

def _validation_summary(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:3]]
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more


def parse_response_item(item: Any) -> ChatCompletionResponse:
    """One element of the `/infer/` list: a `RolloutOutput` (swift rollout) or a bare
    `ChatCompletionResponse` (swift deploy), validated with ms-swift's models."""
    if not isinstance(item, dict):
        raise ContractError(f"expected a JSON object per request, got {type(item).__name__}")
    try:
        if "response" in item:
            return RolloutOutput.model_validate(item).response
        return _CHAT_RESPONSE.validate_python(item)
    except ValidationError as exc:
        raise ContractError("it does not match ms-swift's RolloutOutput/ChatCompletionResponse: "
                            + _validation_summary(exc)) from exc


def _as_ids(value: Any, what: str) -> list[int]:
    if value is None:
        raise ContractError(f"{what} is missing although the request set return_details=True (a server that "
                            "is not ms-swift 4.6.0's `swift rollout`, or a version that dropped the field)")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ContractError(f"{what} must be a list of integers")
    return list(value)


def to_result(response: ChatCompletionResponse) -> RolloutResult:
    if len(response.choices) != 1:
        raise ContractError(f"expected exactly 1 choice (n=1), got {len(response.choices)}")
    choice = response.choices[0]
    text = choice.message.content
    if not isinstance(text, str):
        raise ContractError(f"choices[0].message.content must be a string, got {type(text).__name__}")
    return RolloutResult(
        text=text,
        token_ids=_as_ids(choice.token_ids, "choices[0].token_ids"),
        prompt_ids=_as_ids(response.prompt_token_ids, "prompt_token_ids"),
        finish_reason=choice.finish_reason,
    )


def parse_infer_response(body: bytes | str, expected: int) -> list[RolloutResult]:
    """`expected` results, in request order, from the raw `/infer/` body; raises ContractError."""
    data = load_json(body)
    if not isinstance(data, list):
        raise ContractError(f"expected a JSON list (one entry per request), got {type(data).__name__}")
    if len(data) != expected:
        raise ContractError(f"sent {expected} request(s) but got {len(data)} result(s)")
    results = []
    for index, item in enumerate(data):
        try:
            results.append(to_result(parse_response_item(item)))
        except ContractError as exc:
            raise ContractError(f"result {index}: {exc}") from exc
    return results


# ---------------------------------------------------------------- weight names

def vllm_param_name(name: str, *, is_peft: bool, adapter_prefix: str = "lora_") -> str | None:
    """The checkpoint name vLLM loads for a learner parameter name; None for adapter-only tensors.

    Mirrors ms-swift 4.6.0 `RolloutTrainerMixin._process_state_dict_for_vllm` (vLLM LoRA off): strip
    PEFT's `base_model.model.` and `.base_layer`, drop adapter and `original_module` tensors, unwrap
    activation-checkpoint and `modules_to_save` names.
    """
    clean = name.removeprefix("base_model.model.").replace(".base_layer", "")
    if (is_peft and adapter_prefix in clean) or "original_module" in clean:
        return None
    return clean.replace("_checkpoint_wrapped_module.", "").replace("modules_to_save.default.", "")
