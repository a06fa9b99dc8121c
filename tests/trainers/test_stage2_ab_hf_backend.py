"""The `hf` rollout backend's contract on the tiny coordinate-token Qwen3-VL (real ms-swift template).

One result per request, in request order; `prompt_ids` are the template's local encoding (and the
prompt of the Channel-B training encoding); coordinate tokens survive decoding; the stop token ends
a completion; sampling is seeded per request and leaves the training RNG, the model's mode and the
template's mode as they were.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from src.rollout import RolloutBackend, RolloutRequest
from src.rollout.hf_backend import HfRolloutBackend, local_prompt_ids

IMAGES = ("train_000000.png", "train_000001.png", "train_000002.png")


@pytest.fixture(scope="module")
def model_template(tiny_coord_model_dir):
    from swift import get_model_processor, get_template

    model, processor = get_model_processor(str(tiny_coord_model_dir), model_type="qwen3_vl", check_model=False,
                                           torch_dtype=torch.float32)
    template = get_template(processor, template_type="qwen3_vl", max_length=1024)
    template.set_mode("train")  # as the trainer holds it
    template.model = model
    return model, template


@pytest.fixture(scope="module")
def backend(model_template):
    model, template = model_template
    return HfRolloutBackend(template, lambda: contextlib.nullcontext(model))


@pytest.fixture(scope="module")
def requests_(synthetic_data_dir):
    prompts = ("Detect every object.", "List the objects as JSON.", "Find the shapes.")
    return [RolloutRequest(messages=[{"role": "user", "content": "<image>" + p}],
                           images=[str(synthetic_data_dir / "images" / im)]) for p, im in zip(prompts, IMAGES)]


def _greedy(backend, requests, n=6):
    return backend.generate(requests, max_new_tokens=n, temperature=0.0, top_p=1.0, do_sample=False)


@contextlib.contextmanager
def _biased_towards(model, token_id: int):
    """Every next-token distribution peaks at ``token_id`` (a hook on the LM head)."""
    handle = model.lm_head.register_forward_hook(lambda m, args, out: out + _bias(out, token_id))
    try:
        yield
    finally:
        handle.remove()


def _bias(out: torch.Tensor, token_id: int) -> torch.Tensor:
    bias = torch.zeros(out.shape[-1], dtype=out.dtype, device=out.device)
    bias[token_id] = 1e4
    return bias


def test_it_implements_the_rollout_backend_protocol(backend):
    assert isinstance(backend, RolloutBackend)
    assert backend.name == "hf"
    assert _greedy(backend, []) == []


def test_one_result_per_request_in_request_order(backend, model_template, requests_):
    _, template = model_template
    local = [local_prompt_ids(template, r) for r in requests_]
    assert len({len(ids) for ids in local}) > 1  # the images differ in size: order is visible
    for order in ([0, 1, 2], [2, 0, 1]):
        results = _greedy(backend, [requests_[i] for i in order])
        assert len(results) == 3
        assert [r.prompt_ids for r in results] == [local[i] for i in order]
        assert all(len(r.token_ids) <= 6 for r in results)


def test_prompt_ids_are_the_prompt_of_the_channel_b_training_encoding(backend, model_template, requests_):
    _, template = model_template
    request = requests_[0]
    (result,) = _greedy(backend, [request])
    response = '{"objects": [{"desc": "a", "bbox_2d": [<|coord_1|>, <|coord_2|>, <|coord_30|>, <|coord_40|>]}]}<|im_end|>'
    encoded = template.encode({"messages": [*request.messages, {"role": "assistant", "content": response}],
                               "images": list(request.images)})
    n = len(result.prompt_ids)
    assert encoded["input_ids"][:n] == result.prompt_ids
    assert encoded["input_ids"][n:] == template.tokenizer(response, add_special_tokens=False)["input_ids"]
    assert template.tokenizer.decode(result.prompt_ids[-3:]).endswith("assistant\n")


def test_coordinate_tokens_survive_decoding(backend, model_template, requests_):
    model, template = model_template
    coord = template.tokenizer.convert_tokens_to_ids("<|coord_7|>")
    with _biased_towards(model, coord):
        results = _greedy(backend, requests_[:2], n=5)
    for r in results:
        assert r.token_ids == [coord] * 5
        assert r.text == "<|coord_7|>" * 5
        assert r.finish_reason == "length"


def test_the_stop_token_ends_the_completion_and_is_not_in_the_text(backend, model_template, requests_):
    model, template = model_template
    im_end = template.tokenizer.convert_tokens_to_ids("<|im_end|>")
    with _biased_towards(model, im_end):
        (r,) = _greedy(backend, requests_[:1])
    assert (r.token_ids, r.text, r.finish_reason) == ([im_end], "", "stop")


def test_batched_greedy_equals_one_request_at_a_time(backend, requests_):
    together = _greedy(backend, requests_, n=8)
    alone = [_greedy(backend, [r], n=8)[0] for r in requests_]
    assert [r.token_ids for r in together] == [r.token_ids for r in alone]


def test_sampling_is_seeded_per_request_and_leaves_training_state_alone(backend, model_template, requests_):
    model, template = model_template
    model.train()

    def sample(seed, reqs=requests_[:2]):
        return [r.token_ids for r in backend.generate(reqs, max_new_tokens=8, temperature=1.0, top_p=1.0,
                                                      do_sample=True, seed=seed)]

    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = sample(7)
    assert torch.equal(torch.rand(3), expected_next)  # the training RNG stream is untouched
    assert sample(7) == first
    assert sample(8) != first
    assert sample(7, requests_[:1]) == first[:1]  # a rollout does not depend on its batch neighbours
    assert model.training and template.mode == "train"
    with pytest.raises(Exception, match="seed"):
        backend.generate(requests_[:1], max_new_tokens=2, temperature=1.0, top_p=1.0, do_sample=True)
