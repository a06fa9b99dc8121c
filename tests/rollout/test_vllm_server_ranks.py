"""A rollout failure on one rank fails every rank together (two gloo ranks on CPU, bounded).

(`vllm_server` re-exports these; the test imports `ranks` so the spawned ranks load no ms-swift.)
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from src.rollout import RolloutError, RolloutRequest, RolloutResult
from src.rollout.ranks import all_ranks_ok, rollout_all_ranks

GEN = {"max_new_tokens": 4, "temperature": 0.0, "top_p": 1.0, "do_sample": False}


class StubBackend:
    name = "stub"

    def __init__(self, fail: bool):
        self.fail = fail

    def generate(self, requests, **kwargs):
        if self.fail:
            raise RolloutError("vLLM rollout server http://127.0.0.1:1 (POST /infer/): HTTP 500: boom. See its log.")
        return [RolloutResult(text="{}", token_ids=[1], prompt_ids=[2]) for _ in requests]


def test_single_process_is_identity():
    assert all_ranks_ok(True) is True and all_ranks_ok(False) is False
    assert len(rollout_all_ranks(StubBackend(False), [RolloutRequest(messages=[])], **GEN)) == 1
    with pytest.raises(RolloutError, match="HTTP 500: boom"):
        rollout_all_ranks(StubBackend(True), [], **GEN)


def _worker(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    seen: dict[str, object] = {"ok_same": all_ranks_ok(True), "ok_one_false": all_ranks_ok(rank == 0)}
    outcomes = []
    for step, failing_rank in enumerate((None, 1, 0)):  # rank 1 fails step 1, rank 0 fails step 2
        requests = [RolloutRequest(messages=[])] * (rank + 1)  # different amounts of work per rank
        try:
            outcomes.append(len(rollout_all_ranks(StubBackend(rank == failing_rank), requests, **GEN)))
        except RolloutError as exc:
            outcomes.append(str(exc))
    seen["outcomes"] = outcomes
    seen["after"] = all_ranks_ok(True)  # the group is still usable: nobody is stuck in a collective
    with open(f"{out}.{rank}", "w", encoding="utf-8") as f:
        json.dump(seen, f)
    dist.destroy_process_group()


def test_two_ranks_fail_together_without_hanging(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "rank")
    context = mp.spawn(_worker, args=(port, out), nprocs=2, join=False)
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the two ranks did not finish within 120 s (a hang)")
    r0, r1 = (json.loads(Path(f"{out}.{r}").read_text(encoding="utf-8")) for r in (0, 1))
    for seen in (r0, r1):
        assert seen["ok_same"] is True and seen["ok_one_false"] is False and seen["after"] is True
    assert r0["outcomes"][0] == 1 and r1["outcomes"][0] == 2
    assert "another rank" in r0["outcomes"][1] and "HTTP 500: boom" in r1["outcomes"][1]
    assert "HTTP 500: boom" in r0["outcomes"][2] and "another rank" in r1["outcomes"][2]


def test_on_all_ranks_passes_results_and_errors_through():
    from src.rollout.ranks import on_all_ranks

    assert on_all_ranks(lambda a, b=0: a + b, 2, b=3) == 5

    def boom():
        raise RolloutError("vLLM rollout server http://127.0.0.1:1 (GET /health/): could not connect. Start it.")

    with pytest.raises(RolloutError, match="could not connect"):
        on_all_ranks(boom)
