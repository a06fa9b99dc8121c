"""Invariants at the model-output and multi-rank boundaries.

* assistant.coordjson_before_json: only allowlisted modules call a JSON decoder (AST scan of src/);
* rollout.parse_determinism: the same /infer/ response bytes and rollout text give the same result,
  twice in a process and across processes;
* ddp.rank_symmetric: no collective under a rank-dependent branch (AST), a fixed metric-vector layout,
  a channel schedule that is a function of the global step only, all_ranks_ok called by every rank.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import invariants as I

from src.config.paths import REPO_ROOT

SRC_FILES = sorted((REPO_ROOT / "src").rglob("*.py"))


def test_no_module_parses_model_output_with_a_json_decoder() -> None:
    I.check_json_boundary(SRC_FILES)


def test_allowlist_names_existing_modules() -> None:
    missing = [m for m in I.JSON_DECODER_ALLOWLIST if not (REPO_ROOT / m).is_file()]
    assert not missing, f"JSON_DECODER_ALLOWLIST names modules that no longer exist: {missing}"


def test_model_output_goes_through_coordjson() -> None:
    """The readers of model output (rewards, stage 2) reach it only via parse_prediction."""
    from src.datasets.coordjson import parse_prediction

    for mod in ("src/stage2/pipeline.py", "src/rewards/dense.py"):
        text = (REPO_ROOT / mod).read_text(encoding="utf-8")
        assert "parse_prediction" in text and not I.json_decoder_calls(text, mod), \
            f"[invariant assistant.coordjson_before_json] at {mod}: model output must go through parse_prediction"
    res = parse_prediction('{"objects": [{"desc": "a", "bbox_2d": [<|coord_1|>, <|coord_2|>, <|coord_3|>, '
                           '<|coord_4|>]}]}', "coord_tokens", 999, 999, "strict")
    assert len(res.objects) == 1


# ---------------------------------------------------------------------------------- determinism

OUTPUT = {"response": {"model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content":
          '{"objects": [{"desc": "cat", "bbox_2d": [<|coord_10|>, <|coord_10|>, <|coord_90|>, <|coord_90|>]}]}'},
          "finish_reason": "stop", "token_ids": [1, 2, 3]}], "usage": {"prompt_tokens": 3, "completion_tokens": 3,
          "total_tokens": 6}, "prompt_token_ids": [7, 8, 9]}}
BODY = json.dumps([OUTPUT, OUTPUT]).encode()

_DIGEST = """
import hashlib, sys
from src.rollout.server.contract import parse_infer_response
from src.stage2.pipeline import ChannelBPolicy, channel_b_sample
from src.datasets.records import DenseObject
results = parse_infer_response(sys.stdin.buffer.read(), 2)
gts = [DenseObject("cat", "bbox_2d", (10, 10, 90, 90)), DenseObject("dog", "bbox_2d", (200, 200, 300, 300))]
s = channel_b_sample(results[0].text, gts, width=999, height=999, policy=ChannelBPolicy(coord_format="coord_tokens"))
print(hashlib.sha256(repr((results, s.target.pieces, s.match)).encode()).hexdigest())
"""


def _digest_here() -> str:
    from src.datasets.records import DenseObject
    from src.rollout.server.contract import parse_infer_response
    from src.stage2.pipeline import ChannelBPolicy, channel_b_sample

    results = parse_infer_response(BODY, 2)
    gts = [DenseObject("cat", "bbox_2d", (10, 10, 90, 90)), DenseObject("dog", "bbox_2d", (200, 200, 300, 300))]
    s = channel_b_sample(results[0].text, gts, width=999, height=999,
                         policy=ChannelBPolicy(coord_format="coord_tokens"))
    return hashlib.sha256(repr((results, s.target.pieces, s.match)).encode()).hexdigest()


def test_rollout_parsing_is_deterministic_in_and_across_processes() -> None:
    here = I.check_deterministic("src.rollout.server.contract:parse_infer_response", _digest_here,
                                 digest=str)
    other = subprocess.run([sys.executable, "-c", _DIGEST], input=BODY, capture_output=True, cwd=REPO_ROOT,
                           timeout=120, check=True, env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.decode().strip()
    assert other == here, ("[invariant rollout.parse_determinism] at src.rollout.server.contract:"
                           f"parse_infer_response: another process parsed the same bytes to {other[:12]}, this one "
                           f"to {here[:12]}")


# -------------------------------------------------------------------------------- rank symmetry

RANK_FILES = [REPO_ROOT / p for p in ("src/rollout/ranks.py", "src/trainers/telemetry/reduction.py",
                                      "src/trainers/telemetry/mixin.py", "src/rollout/server/weight_sync.py",
                                      "src/trainers/stage2_ab.py", "src/trainers/stage2_ab_batch.py")]


def test_no_collective_under_a_rank_dependent_branch() -> None:
    I.check_rank_symmetric_source([p for p in RANK_FILES if p.is_file()])
    I.check_rank_symmetric_source(SRC_FILES)


def test_metric_pack_has_a_fixed_layout_whatever_a_rank_saw() -> None:
    from src.stage2 import metrics as M

    views = [{}, M.schedule_values(3, 0.5), {M.INVALID_ROLLOUT: 2, M.PRECISION: (1.0, 2.0)},
             {M.N_VALID_PRED: 5, M.ROLLOUT_SECONDS: (3.0, 1.0), M.FN: 1}]
    vectors = [M.pack(v) for v in views]
    I.check_fixed_layout("src.stage2.metrics:pack", vectors)
    assert len(vectors[0]) == M.PACKED_WIDTH


def test_channel_schedule_is_a_function_of_the_global_step_only() -> None:
    from src.stage2 import schedule as S

    assert list(inspect.signature(S.channel_for_step).parameters) == ["step", "b_ratio"], \
        "[invariant ddp.rank_symmetric] at src.stage2.schedule:channel_for_step: takes more than (step, b_ratio)"
    first = [S.channel_for_step(s, 0.5) for s in range(64)]
    assert first == [S.channel_for_step(s, 0.5) for s in range(64)]
    assert S.count_b_steps(64, 0.5) == first.count("B")


def test_all_ranks_ok_and_on_all_ranks_call_the_collective_unconditionally() -> None:
    """``on_all_ranks`` (and every other "fail together" caller) is built on ``src.distributed.together``."""
    from src import distributed as D

    for fn in (D.together,):
        tree = ast.parse(inspect.getsource(fn))
        body = tree.body[0].body
        top_level_calls = [n for n in body if "all_ranks_ok" in ast.unparse(n)]
        assert top_level_calls and not isinstance(top_level_calls[0], ast.Try), \
            "[invariant ddp.rank_symmetric] at src.distributed:together: all_ranks_ok must run on " \
            "every rank, outside the try that catches the rank-local error"


# ------------------------------------------------------------------------------------------- meta

BAD_JSON = '''import json
def parse(completion):
    return json.loads(completion)["objects"]
'''
BAD_RANK = '''import torch.distributed as dist
def log(t, rank):
    if rank == 0:
        dist.all_reduce(t)
    return t
'''


def test_meta_direct_json_parse_of_model_output_fails(tmp_path: Path) -> None:
    mod = tmp_path / "src" / "rewards" / "sloppy.py"
    mod.parent.mkdir(parents=True)
    mod.write_text(BAD_JSON)
    with pytest.raises(AssertionError, match=r"\[invariant assistant\.coordjson_before_json\] at "
                                             r"src/rewards/sloppy\.py:3: json\.loads\(\.\.\.\)"):
        I.check_json_boundary([mod], root=tmp_path)
    alias = "from json import loads as L\nx = L('1')\n"
    assert I.json_decoder_calls(alias) == [(2, "json.loads")]
    assert I.json_decoder_calls("import orjson\norjson.loads(b'1')\n") == [(2, "orjson.loads")]
    assert I.json_decoder_calls("import msgspec\nmsgspec.json.decode(b'1')\n") == [(2, "msgspec.json.decode")]


def test_meta_collective_under_rank_branch_fails(tmp_path: Path) -> None:
    mod = tmp_path / "bad_reduction.py"
    mod.write_text(BAD_RANK)
    with pytest.raises(AssertionError, match=r"\[invariant ddp\.rank_symmetric\] at bad_reduction\.py:4: "
                                             r"dist\.all_reduce\(\.\.\.\) under the rank-dependent branch at line 3"):
        I.check_rank_symmetric_source([mod], root=tmp_path)


def test_meta_nondeterministic_parser_fails(monkeypatch) -> None:
    from src.rollout.server import contract as SC

    real, calls = SC.parse_infer_response, iter(range(100))

    def flaky(body, expected):
        out = real(body, expected)
        return out if next(calls) % 2 == 0 else list(reversed(out[:1])) + [out[0].__class__("x", [], None)]

    monkeypatch.setattr(SC, "parse_infer_response", flaky)
    with pytest.raises(AssertionError, match=r"\[invariant rollout\.parse_determinism\] at server_contract: 2 runs"):
        I.check_deterministic("server_contract", lambda: SC.parse_infer_response(BODY, 2))


def test_meta_rank_dependent_vector_layout_fails() -> None:
    with pytest.raises(AssertionError, match=r"\[invariant ddp\.rank_symmetric\] at pack: .*lengths \[3, 4\]"):
        I.check_fixed_layout("pack", [[0.0] * 3, [0.0] * 4])
