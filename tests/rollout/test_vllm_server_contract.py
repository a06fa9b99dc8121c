"""The `swift rollout` contract against ms-swift 4.6.0's own models (no GPU, no vLLM, no live server).

- payloads are accepted by a FastAPI route with exactly the signature of the installed
  `SwiftRolloutDeploy.infer` (read from its source: importing it needs vLLM) and construct
  `RolloutInferRequest` / `RequestConfig(return_details=True)`;
- responses built with `RolloutOutput` / `ChatCompletionResponse` and serialized the way FastAPI
  serializes them parse back into the right `RolloutResult`s;
- the routes the client uses are the ones the installed server registers.
"""

from __future__ import annotations

import ast
import base64
import inspect
import io
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Union  # noqa: UP035 - eval'd ms-swift annotations

import pytest
import swift
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient
from PIL import Image
from swift.infer_engine.protocol import (
    ChatCompletionResponse,
    ChatCompletionResponseChoice,
    ChatMessage,
    RequestConfig,
    RolloutInferRequest,
    RolloutOutput,
    UsageInfo,
)

from src.rollout import RolloutRequest, RolloutResult
from src.rollout.server.contract import (
    ContractError,
    build_infer_payload,
    encode_image,
    parse_infer_response,
    request_config,
    vllm_param_name,
)
from src.rollout.server.health import parse_world_size
from src.rollout.server.transport import HEALTH_ROUTE, INFER_ROUTE, WORLD_SIZE_ROUTE

ROLLOUT_SRC = Path(swift.__file__).parent / "pipelines" / "infer" / "rollout.py"
OPTS = {"max_new_tokens": 64, "temperature": 0.0, "top_p": 1.0, "do_sample": False, "seed": 7}


def _server_class() -> ast.ClassDef:
    tree = ast.parse(ROLLOUT_SRC.read_text(encoding="utf-8"))
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SwiftRolloutDeploy")


def _method(cls: ast.ClassDef, name: str) -> ast.AsyncFunctionDef | ast.FunctionDef:
    return next(n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name)


def _infer_route_app(captured: dict[str, Any]) -> FastAPI:
    """A FastAPI app whose /infer/ has the installed server's exact parameter list and annotations."""
    fn = _method(_server_class(), "infer")
    ns = {"List": List, "Dict": Dict, "Union": Union, "Optional": Optional, "Any": Any,  # noqa: UP006
          "RolloutInferRequest": RolloutInferRequest, "RequestConfig": RequestConfig}
    params = []
    positional = fn.args.args[1:]  # drop self
    defaults = [None] * (len(positional) - len(fn.args.defaults)) + list(fn.args.defaults)
    for arg, default in zip(positional, defaults):
        params.append(inspect.Parameter(
            arg.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=eval(ast.unparse(arg.annotation), ns),
            default=inspect.Parameter.empty if default is None else ast.literal_eval(default)))
    for arg, default in zip(fn.args.kwonlyargs, fn.args.kw_defaults):
        params.append(inspect.Parameter(
            arg.arg, inspect.Parameter.KEYWORD_ONLY, annotation=eval(ast.unparse(arg.annotation), ns),
            default=inspect.Parameter.empty if default is None else ast.literal_eval(default)))

    async def endpoint(**kwargs: Any) -> list:
        captured.update(kwargs)
        return []

    endpoint.__signature__ = inspect.Signature(params)
    app = FastAPI()
    app.post(INFER_ROUTE)(endpoint)
    return app


def _png(color: tuple[int, int, int] = (255, 0, 0)) -> Image.Image:
    return Image.new("RGB", (8, 6), color)


def _requests(tmp_path: Path) -> list[RolloutRequest]:
    path = tmp_path / "img.png"
    _png((0, 255, 0)).save(path)
    user = [{"role": "user", "content": "<image>Detect every object."}]
    return [RolloutRequest(messages=user, images=[_png()]),
            RolloutRequest(messages=user, images=[str(path)], prompt_ids=[1, 2, 3]),
            RolloutRequest(messages=[{"role": "user", "content": "no image"}])]


def test_routes_are_registered_by_the_installed_rollout_server():
    register = _method(_server_class(), "_register_rl_rollout_app")
    routes = {(call.func.attr, call.args[0].value) for call in ast.walk(register)
              if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
              and call.func.attr in ("get", "post") and call.args and isinstance(call.args[0], ast.Constant)}
    assert {("get", HEALTH_ROUTE), ("get", WORLD_SIZE_ROUTE), ("post", INFER_ROUTE)} <= routes
    assert {("post", "/init_communicator/"), ("post", "/update_flattened_params/"),
            ("post", "/process_weights_after_loading/"), ("post", "/reset_prefix_cache/")} <= routes


def test_request_config_asks_for_details_and_pins_decoding():
    cfg = request_config(max_new_tokens=32, temperature=0.7, top_p=0.9, do_sample=True, seed=3)
    assert isinstance(cfg, RequestConfig) and cfg.return_details is True and cfg.n == 1 and not cfg.stream
    assert (cfg.max_tokens, cfg.temperature, cfg.top_p, cfg.seed) == (32, 0.7, 0.9, 3)
    assert (cfg.top_k, cfg.min_p, cfg.repetition_penalty) == (-1, 0.0, 1.0)  # never the model's generation_config
    greedy = request_config(max_new_tokens=32, temperature=0.7, top_p=0.9, do_sample=False)
    assert (greedy.temperature, greedy.top_p) == (0.0, 1.0)


def test_payload_is_accepted_by_the_servers_infer_signature(tmp_path):
    captured: dict[str, Any] = {}
    payload = build_infer_payload(_requests(tmp_path), **OPTS)
    client = TestClient(_infer_route_app(captured))
    reply = client.post(INFER_ROUTE, json=json.loads(json.dumps(payload)))
    assert reply.status_code == 200, reply.text
    assert set(payload) == {"infer_requests", "request_config"}
    config = captured["request_config"]
    assert isinstance(config, RequestConfig) and config.return_details is True and config.max_tokens == 64
    rebuilt = [r if isinstance(r, RolloutInferRequest) else RolloutInferRequest(**r)
               for r in captured["infer_requests"]]
    assert [len(r.images) for r in rebuilt] == [1, 1, 0]
    assert rebuilt[0].messages == [{"role": "user", "content": "<image>Detect every object."}]


def test_the_route_really_validates(tmp_path):
    """Guard against a vacuous route: a wrongly typed request_config is rejected (422)."""
    payload = build_infer_payload(_requests(tmp_path), **OPTS)
    payload["request_config"]["max_tokens"] = "many"
    assert TestClient(_infer_route_app({})).post(INFER_ROUTE, json=payload).status_code == 422


def test_images_travel_as_base64_png_or_file_bytes(tmp_path):
    image = _png((10, 20, 30))
    decoded = Image.open(io.BytesIO(base64.b64decode(encode_image(image))))
    assert decoded.format == "PNG" and decoded.getpixel((0, 0)) == (10, 20, 30)
    path = tmp_path / "x.png"
    image.save(path)
    assert base64.b64decode(encode_image(str(path))) == path.read_bytes()
    assert base64.b64decode(encode_image({"bytes": path.read_bytes(), "path": None})) == path.read_bytes()
    with pytest.raises(ContractError, match="is not a file"):
        encode_image(str(tmp_path / "missing.png"))
    with pytest.raises(ContractError, match="request 0: image path"):
        build_infer_payload([RolloutRequest(messages=[], images=[str(tmp_path / "nope.jpg")])], **OPTS)


def test_inline_images_in_list_content_are_encoded(tmp_path):
    messages = [{"role": "user", "content": [{"type": "image", "image": _png()}, {"type": "text", "text": "hi"}]}]
    payload = build_infer_payload([RolloutRequest(messages=messages)], **OPTS)
    item = payload["infer_requests"][0]["messages"][0]["content"][0]
    assert isinstance(item["image"], str) and Image.open(io.BytesIO(base64.b64decode(item["image"])))
    assert isinstance(messages[0]["content"][0]["image"], Image.Image)  # the caller's messages untouched


def server_body(items: list[tuple[str, list[int], list[int]]], *, bare: bool = False) -> bytes:
    """What `swift rollout` sends: RolloutOutput (or bare ChatCompletionResponse) through jsonable_encoder."""
    outs = []
    for text, prompt_ids, token_ids in items:
        response = ChatCompletionResponse(
            model="qwen3_vl",
            choices=[ChatCompletionResponseChoice(index=0, message=ChatMessage(role="assistant", content=text),
                                                  finish_reason="stop", token_ids=token_ids)],
            usage=UsageInfo(len(prompt_ids), len(token_ids), len(prompt_ids) + len(token_ids)),
            prompt_token_ids=prompt_ids)
        outs.append(response if bare else RolloutOutput(response=response))
    return json.dumps(jsonable_encoder(outs)).encode()


def test_responses_parse_in_order_with_prompt_ids():
    body = server_body([('{"objects": []}', [1, 2], [5, 151645]), ("<|coord_3|>", [1, 2, 3], [7])])
    assert parse_infer_response(body, 2) == [
        RolloutResult(text='{"objects": []}', token_ids=[5, 151645], prompt_ids=[1, 2], finish_reason="stop"),
        RolloutResult(text="<|coord_3|>", token_ids=[7], prompt_ids=[1, 2, 3], finish_reason="stop"),
    ]
    assert parse_infer_response(server_body([("a", [1], [2])], bare=True), 1)[0].prompt_ids == [1]


@pytest.mark.parametrize(("body", "expected", "message"), [
    (b"{not json", 1, "not JSON"),
    (b"", 1, "<empty body>"),
    (b'{"detail": "x"}', 1, "expected a JSON list"),
    (b"[]", 1, "sent 1 request"),
    (b'[{"response": {"model": "m"}}]', 1, "result 0: it does not match ms-swift's RolloutOutput"),
    (b"[42]", 1, "expected a JSON object per request"),
])
def test_malformed_responses_are_contract_errors(body, expected, message):
    with pytest.raises(ContractError, match=message):
        parse_infer_response(body, expected)


def test_missing_details_are_reported():
    item = json.loads(server_body([("a", [1], [2])]))[0]
    item["response"]["prompt_token_ids"] = None
    with pytest.raises(ContractError, match="prompt_token_ids is missing although the request set return_details"):
        parse_infer_response(json.dumps([item]), 1)
    item = json.loads(server_body([("a", [1], [2])]))[0]
    item["response"]["choices"][0]["token_ids"] = None
    with pytest.raises(ContractError, match=r"choices\[0\].token_ids is missing"):
        parse_infer_response(json.dumps([item]), 1)


def test_world_size_parsing():
    assert parse_world_size(b'{"world_size": 4}') == 4
    for bad in (b'{"world_size": 0}', b'{"size": 2}', b"[]", b'{"world_size": true}'):
        with pytest.raises(ContractError):
            parse_world_size(bad)


@pytest.mark.parametrize(("name", "is_peft", "expected"), [
    ("model.language_model.layers.0.mlp.up_proj.weight", False, "model.language_model.layers.0.mlp.up_proj.weight"),
    ("base_model.model.model.language_model.layers.0.self_attn.q_proj.base_layer.weight", True,
     "model.language_model.layers.0.self_attn.q_proj.weight"),
    ("base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_A.default.weight", True, None),
    ("base_model.model.lm_head.modules_to_save.default.weight", True, "lm_head.weight"),
    ("base_model.model.lm_head.original_module.weight", True, None),
    ("model.visual._checkpoint_wrapped_module.blocks.0.attn.qkv.weight", False, "model.visual.blocks.0.attn.qkv.weight"),
])
def test_vllm_param_names(name, is_peft, expected):
    assert vllm_param_name(name, is_peft=is_peft) == expected


def test_launcher_flags_are_rollout_arguments(tmp_path):
    """Every flag scripts/train_stage2.sh can pass to `swift rollout` is a RolloutArguments field."""
    import dataclasses

    from swift.arguments import RolloutArguments

    from src.config import load_training_config
    from src.rollout.server.settings import MODEL_KEYS, TEMPLATE_KEYS, server_flags, server_settings

    fields = {f.name for f in dataclasses.fields(RolloutArguments)}
    cfg = load_training_config("configs/train/grpo/summary_server.yaml")
    flags = server_flags(cfg, server_settings(cfg), tmp_path, "127.0.0.1", 8000, 1)
    names = set(flags) | set(TEMPLATE_KEYS) | set(MODEL_KEYS) | {"vllm_enable_prefix_caching", "vllm_max_num_seqs"}
    assert names - fields == set()
    assert "api_key" not in flags
