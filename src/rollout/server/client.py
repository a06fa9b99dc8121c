"""Channel-B rollouts from `swift rollout` (vLLM) servers: the `vllm` RolloutBackend, server mode.

Startup (`check_servers`, run by the constructor): every server answers `GET /health/` within
`timeout_s` (polled, so a server still loading gets the whole window) and `GET /get_world_size/`
with a positive world size (equal to the launcher's record when `$ROLLOUT_SERVER_INFO` names it).

`generate` splits the requests into contiguous chunks, one per server (as ms-swift's client does),
posts each chunk to `/infer/` with `return_details=True` and returns one `RolloutResult` per
request, in order, with the server's `prompt_token_ids` in `prompt_ids`. Every exchange is bounded
by `rollout_matching.vllm.timeout_s` as a whole (connect + queueing behind other ranks' calls +
generation + transfer): a dead, hung or slow server raises `RolloutError` within the timeout.

Multi-rank semantics (the trainer's side of the contract): a failure on one rank must fail every
rank together, at the same point, or the other ranks hang in their next collective. So every rank
makes each server call through `on_all_ranks` (src/rollout/ranks.py, re-exported here), every time, whether
it has work or not; when any rank failed, all ranks raise `RolloutError`:

    backend = on_all_ranks(VllmServerBackend.from_config, cfg)    # health + world size
    on_all_ranks(backend.sync_weights, model)     # rank 0 pushes, others return; also the barrier
    results = rollout_all_ranks(backend, requests, max_new_tokens=..., ...)   # each rank its own

The all-reduce after `sync_weights` is what keeps the other ranks from asking for rollouts before
the new weights are in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..base import RolloutError, RolloutRequest, RolloutResult
from ..ranks import all_ranks_ok, on_all_ranks, rank, rollout_all_ranks
from .contract import ContractError, build_infer_payload, parse_infer_response
from .health import parse_world_size
from .record import recorded_world_size
from .transport import (
    HEALTH_ROUTE,
    INFER_ROUTE,
    WORLD_SIZE_ROUTE,
    HttpReply,
    TransportError,
    http_json,
    server_url,
)
from .weight_sync import DEFAULT_GROUP_PORT, ServerWeightSync

__all__ = ["VllmServerBackend", "all_ranks_ok", "on_all_ranks", "recorded_world_size", "rollout_all_ranks"]
_LOG_HINT = "its log (<training.output_dir>/rollout_server.log when scripts/train_stage2.sh started it)"


class VllmServerBackend:
    """`RolloutBackend` over ms-swift's `swift rollout` HTTP contract (see contract.py)."""

    name = "vllm"

    def __init__(self, servers: Sequence[tuple[str, int]], *, timeout_s: float,
                 expected_world_size: int | None = None, group_port: int = DEFAULT_GROUP_PORT,
                 check: bool = True):
        if not servers:
            raise RolloutError("the vLLM rollout backend needs at least one server "
                               "(rollout_matching.vllm.servers: [{host: 127.0.0.1, port: 8000}]).")
        self.servers = [(str(h), int(p)) for h, p in servers]
        self.timeout_s = float(timeout_s)
        self.expected_world_size = expected_world_size
        self.world_sizes: list[int] = []
        self._weights = ServerWeightSync(self.servers, timeout_s=self.timeout_s, group_port=group_port)
        if check:
            self.check_servers()

    @classmethod
    def from_config(cls, cfg: Any, **kwargs: Any) -> VllmServerBackend:
        """From `rollout_matching.vllm` (server mode); hosts must be loopback (src/config/server_mode.py)."""
        from src.config.server_mode import host_problem

        vllm = cfg.rollout_matching.vllm
        if vllm is None or vllm.mode != "server":
            raise RolloutError("rollout_matching.vllm.mode must be server for the vLLM server backend.")
        for server in vllm.servers:
            if problem := host_problem(server.host):
                raise RolloutError(f"rollout_matching.vllm.servers: {problem}.")
        servers = [(s.host, s.port) for s in vllm.servers]
        kwargs.setdefault("expected_world_size", recorded_world_size(servers))
        return cls(servers, timeout_s=vllm.timeout_s, **kwargs)

    # ------------------------------------------------------------ errors and HTTP

    def _error(self, server: tuple[str, int], method: str, route: str, what: str, todo: str) -> RolloutError:
        return RolloutError(f"vLLM rollout server {server_url(*server)} ({method} {route}): {what}. {todo}")

    def _call(self, server: tuple[str, int], method: str, route: str, payload: Any = None,
              timeout_s: float | None = None) -> HttpReply:
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        try:
            reply = http_json(server[0], server[1], method, route, payload, timeout_s=timeout_s)
        except TransportError as exc:
            todo = {
                "connect": "No server is listening there: start it with scripts/train_stage2.sh (it starts "
                           "`swift rollout` on loopback and points the learners at it) or fix "
                           "rollout_matching.vllm.servers.",
                "timeout": f"The server is hung, overloaded or still busy with other ranks' requests: check "
                           f"{_LOG_HINT}, or raise rollout_matching.vllm.timeout_s (now {self.timeout_s:g} s).",
            }.get(exc.kind, f"The server may have crashed: check {_LOG_HINT}.")
            raise self._error(server, method, route, exc.detail, todo) from exc
        if reply.status != 200:
            raise self._error(server, method, route, f"HTTP {reply.status}: {reply.text()}", self._status_hint(reply))
        return reply

    @staticmethod
    def _status_hint(reply: HttpReply) -> str:
        if reply.status == 401:
            return ("The server wants an API key: restart it without --api_key (ms-swift 4.6.0's weight sync "
                    "fails against such a server), bound to 127.0.0.1.")
        if reply.status in (404, 405, 422):
            return ("The route is missing or rejected the request: the server is not ms-swift 4.6.0's "
                    "`swift rollout` (another program on the port, or a different ms-swift version).")
        return f"See the traceback in {_LOG_HINT}."

    # ------------------------------------------------------------ startup checks

    def check_servers(self) -> list[int]:
        """Health and world size of every server; returns the world sizes."""
        self.world_sizes = []
        for server in self.servers:
            self._wait_healthy(server)
            reply = self._call(server, "GET", WORLD_SIZE_ROUTE)
            try:
                size = parse_world_size(reply.body)
            except ContractError as exc:
                raise self._error(server, "GET", WORLD_SIZE_ROUTE, str(exc),
                                  "The program on that port is not ms-swift's `swift rollout`.") from exc
            if self.expected_world_size is not None and size != self.expected_world_size:
                raise self._error(server, "GET", WORLD_SIZE_ROUTE,
                                  f"world size {size}, but the launcher started it with "
                                  f"{self.expected_world_size} (tensor x data parallel)",
                                  "Another server answers on that port: stop it or use another --port.")
            self.world_sizes.append(size)
        return self.world_sizes

    def _wait_healthy(self, server: tuple[str, int]) -> None:
        import time

        end = time.monotonic() + self.timeout_s
        while True:
            left = end - time.monotonic()
            try:
                self._call(server, "GET", HEALTH_ROUTE, timeout_s=max(0.05, min(5.0, left)))
                return
            except RolloutError:
                if time.monotonic() + 0.25 >= end:
                    raise
            time.sleep(0.25)

    # ------------------------------------------------------------ rollouts

    def generate(self, requests: Sequence[RolloutRequest], *, max_new_tokens: int, temperature: float,
                 top_p: float, do_sample: bool, seed: int | None = None) -> list[RolloutResult]:
        requests = list(requests)
        if not requests:
            return []
        size = math.ceil(len(requests) / len(self.servers))
        chunks = [(server, requests[i * size:(i + 1) * size]) for i, server in enumerate(self.servers)]
        chunks = [(server, chunk) for server, chunk in chunks if chunk]
        options = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
                       "do_sample": do_sample, "seed": seed}
        if len(chunks) == 1:
            return self._infer(*chunks[0], options)
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            futures = [pool.submit(self._infer, server, chunk, options) for server, chunk in chunks]
            return [result for future in futures for result in future.result()]

    def _infer(self, server: tuple[str, int], chunk: list[RolloutRequest], options: dict) -> list[RolloutResult]:
        try:
            payload = build_infer_payload(chunk, **options)
        except ContractError as exc:
            raise self._error(server, "POST", INFER_ROUTE, f"cannot build the request: {exc}",
                              "Fix the sample's images/messages (see src/rollout/base.py).") from exc
        reply = self._call(server, "POST", INFER_ROUTE, payload)
        try:
            return parse_infer_response(reply.body, len(chunk))
        except ContractError as exc:
            raise self._error(server, "POST", INFER_ROUTE, f"malformed response: {exc}",
                              "The server is not ms-swift 4.6.0's `swift rollout`, or it failed mid-response: "
                              f"check {_LOG_HINT}.") from exc

    # ------------------------------------------------------------ weights

    def sync_weights(self, model: Any) -> int:
        """Push `model`'s weights (LoRA merged) to every server; global rank 0 only, others return 0.

        Call on every rank, then `all_ranks_ok(...)` on every rank (see the module docstring).
        """
        if rank() != 0:
            return 0
        return self._weights.push(model)

    def close(self) -> None:
        self._weights.close()

