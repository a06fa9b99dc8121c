"""Upstream contract tests (CPU-only): the transformers / ms-swift surfaces the launcher relies on.

The ms-swift argument-field snapshot has its own test: tests/config/test_swift_fields_contract.py.
The full `swift rollout` HTTP contract: tests/rollout/test_vllm_server_contract.py. Here: the method /
field surfaces of tests/support/surfaces.py against the installed stack, the Qwen3-VL multimodal
payload shape, and meta tests feeding the checker fake modules.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import types

import pytest
from support.surfaces import (
    LOG_MESSAGES,
    SURFACES,
    Method,
    Surface,
    SurfaceDriftError,
    assert_surfaces,
    check_surface,
)

CUDA_ONLY = ("vllm", "deepspeed", "flash_attn")


@pytest.fixture(scope="module")
def upstream() -> dict[str, types.ModuleType]:
    before = set(sys.modules)
    modules = {s.module: importlib.import_module(s.module) for s in SURFACES}
    newly = {m.split(".")[0] for m in set(sys.modules) - before}
    assert not newly & set(CUDA_ONLY), f"contract tests imported CUDA-only modules: {sorted(newly & set(CUDA_ONLY))}"
    return modules


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_upstream_surface_is_compatible(surface: Surface, upstream) -> None:
    problems = check_surface(surface, upstream[surface.module])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("module", "text", "why"), LOG_MESSAGES, ids=[m[1][:40] for m in LOG_MESSAGES])
def test_swift_log_messages_we_route_exist(module, text, why) -> None:
    """src/trainers/console.py keeps or filters these messages by their text: a reworded upstream message
    would silently leave the console (or come back on it)."""
    source = inspect.getsource(importlib.import_module(module))
    assert text in source, f"upstream log message changed in {module}: {text} ({why}); update src/trainers/console.py"


def test_request_config_return_details_roundtrip(upstream) -> None:
    from src.rollout.server.contract import request_config

    protocol = upstream["swift.infer_engine.protocol"]
    cfg = request_config(max_new_tokens=8, temperature=0.0, top_p=1.0, do_sample=False, seed=1)
    assert isinstance(cfg, protocol.RequestConfig)
    assert cfg.return_details is True, "contract `RequestConfig(return_details=True)`: stage 2 needs prompt ids"
    assert protocol.RequestConfig(return_details=True).return_details is True


def test_qwen3_vl_multimodal_payload_shape(upstream) -> None:
    from PIL import Image

    from src.rollout.base import RolloutRequest
    from src.rollout.server.contract import build_infer_payload

    protocol = upstream["swift.infer_engine.protocol"]
    req = RolloutRequest(messages=[{"role": "user", "content": "<image>Detect every object."}],
                         images=[Image.new("RGB", (64, 32), (255, 0, 0))])
    payload = build_infer_payload([req, req], max_new_tokens=16, temperature=0.0, top_p=1.0, do_sample=False)
    assert json.loads(json.dumps(payload)) == payload, "payload must be plain JSON"
    assert sorted(payload) == ["infer_requests", "request_config"]
    assert len(payload["infer_requests"]) == 2
    item = payload["infer_requests"][0]
    assert item["messages"][0]["content"].count("<image>") == len(item["images"]) == 1
    assert all(isinstance(img, str) for img in item["images"]), "images travel as base64 strings"
    # the server constructs ms-swift's own models from the payload
    protocol.RolloutInferRequest(**item)
    assert protocol.RequestConfig(**payload["request_config"]).return_details is True


# ------------------------------------------------------------------------------------------------ meta


def _trainer_like(**overrides) -> type:
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None): ...

    def log(self, logs, start_time=None): ...

    body = {"compute_loss": compute_loss, "log": log}
    body.update(overrides)
    return type("Trainer", (), {k: v for k, v in body.items() if v is not None})


SURF = Surface("transformers", "Trainer", methods=(
    Method("compute_loss", ("self", "model", "inputs", "return_outputs", "num_items_in_batch")),
    Method("log", ("self", "logs")),
))


def test_checker_accepts_a_compatible_fake() -> None:
    assert check_surface(SURF, types.SimpleNamespace(Trainer=_trainer_like())) == []


def test_checker_names_a_missing_method() -> None:
    fake = types.SimpleNamespace(Trainer=_trainer_like(log=None))
    with pytest.raises(SurfaceDriftError, match=r"upstream surface `transformers\.Trainer\.log`: missing"):
        assert_surfaces((SURF,), {"transformers": fake})


def test_checker_names_a_changed_signature() -> None:
    def compute_loss(self, model, batch, return_outputs=False): ...

    fake = types.ModuleType("transformers")
    fake.Trainer = _trainer_like(compute_loss=compute_loss)
    problems = check_surface(SURF, fake)
    assert problems and "`transformers.Trainer.compute_loss`" in problems[0]
    assert "['inputs', 'num_items_in_batch'] missing" in problems[0]


def test_checker_names_a_new_required_parameter_and_reordering() -> None:
    def log(self, logs, step): ...

    def compute_loss(self, inputs, model, return_outputs=False, num_items_in_batch=None): ...

    fake = types.SimpleNamespace(Trainer=_trainer_like(log=log, compute_loss=compute_loss))
    text = "\n".join(check_surface(SURF, fake))
    assert "`transformers.Trainer.log`: new required parameter(s) ['step']" in text
    assert "`transformers.Trainer.compute_loss`: parameter order changed" in text


def test_checker_names_missing_class_fields_and_keys() -> None:
    from dataclasses import dataclass

    @dataclass
    class RequestConfig:
        max_tokens: int = 1

    fake = types.SimpleNamespace(RequestConfig=RequestConfig,
                                 TrainerFactory=types.SimpleNamespace(TRAINER_MAPPING={"causal_lm": "x"}))
    rc = Surface("swift.infer_engine.protocol", "RequestConfig", fields=("max_tokens", "return_details"))
    tm = Surface("swift.trainers", "TrainerFactory.TRAINER_MAPPING", kind="mapping", keys=("causal_lm", "grpo"))
    assert "`swift.infer_engine.protocol.RequestConfig`: field(s) ['return_details'] missing" in \
        check_surface(rc, fake)[0]
    assert "`swift.trainers.TrainerFactory.TRAINER_MAPPING`: key(s) ['grpo'] missing" in check_surface(tm, fake)[0]
    assert "missing from" in check_surface(Surface("swift.rewards", "orms"), types.SimpleNamespace())[0]


def test_surfaces_pin_what_our_code_overrides() -> None:
    """Every method our trainer classes override on an upstream base is pinned in SURFACES."""
    from src.trainers.telemetry.mixin import TelemetryMixin

    pinned = {(s.attr, m.name) for s in SURFACES for m in s.methods}
    for name, _ in inspect.getmembers(TelemetryMixin, inspect.isfunction):
        if name in ("compute_loss", "log"):
            assert ("Trainer", name) in pinned


def test_model_loss_hook_is_settable() -> None:
    """Telemetry sets a TokenLossTap as the model's `loss_function`; transformers must return it."""
    from transformers import PreTrainedModel

    prop = inspect.getattr_static(PreTrainedModel, "loss_function")
    assert isinstance(prop, property) and prop.fset is not None, (
        "contract `PreTrainedModel.loss_function`: telemetry needs a settable property (src/trainers/telemetry)")
    holder = types.SimpleNamespace()
    prop.fset(holder, "tap")
    assert prop.fget(holder) == "tap"
