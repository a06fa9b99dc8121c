"""VllmServerBackend against a local HTTP server (127.0.0.1, port 0, a thread that stops itself).

Each failure (HTTP 500, malformed JSON, a stall or trickle past the timeout, health and world-size
failures, an API-key server, nothing listening) must raise a RolloutError naming the server, the
route and the fix, within the configured timeout plus a small slack; a valid server returns the
right results in request order.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from test_vllm_server_contract import server_body

from src.config import load_training_config
from src.rollout import RolloutBackend, RolloutError, RolloutRequest
from src.rollout.server.client import VllmServerBackend

TIMEOUT = 0.6
SLACK = 0.6
GEN = {"max_new_tokens": 16, "temperature": 0.0, "top_p": 1.0, "do_sample": False}
Route = Callable[[BaseHTTPRequestHandler, bytes], None]


def reply(status: int, body: bytes | dict | list, delay: float = 0.0) -> Route:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()

    def route(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        time.sleep(delay)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return route


def trickle(seconds: float) -> Route:
    """Headers at once, then one byte every 0.1 s: each read is quick, the whole is not."""
    def route(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(int(seconds * 10) + 2))
        handler.end_headers()
        handler.wfile.write(b"[")
        for _ in range(int(seconds * 10)):
            time.sleep(0.1)
            handler.wfile.write(b" ")
            handler.wfile.flush()
        handler.wfile.write(b"]")

    return route


def echo_infer(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """A valid /infer/: one result per request, text = the request's index in this chunk + its user text."""
    payload = json.loads(body)
    handler.server.payloads.append(payload)
    assert payload["request_config"]["return_details"] is True
    items = [(f"{i}:{r['messages'][0]['content']}", [100 + i, len(r["images"])], [i, 151645])
             for i, r in enumerate(payload["infer_requests"])]
    reply(200, server_body(items))(handler, body)


HEALTHY = {"GET /health/": reply(200, {"status": "ok"}), "GET /get_world_size/": reply(200, {"world_size": 1})}


@contextmanager
def fake_server(routes: dict[str, Route], lifetime: float = 20.0) -> Iterator[tuple[str, int]]:
    class Handler(BaseHTTPRequestHandler):
        def _dispatch(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            route = routes.get(f"{method} {self.path}")
            (route or reply(404, {"detail": "Not Found"}))(self, body)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    server.payloads = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    watchdog = threading.Timer(lifetime, server.shutdown)  # stops itself even if a test forgets to
    watchdog.daemon = True
    watchdog.start()
    try:
        yield server.server_address[0], server.server_address[1]
    finally:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(5)


def requests_(n: int = 3) -> list[RolloutRequest]:
    image = Image.new("RGB", (4, 4), (1, 2, 3))
    return [RolloutRequest(messages=[{"role": "user", "content": f"<image>q{i}"}], images=[image]) for i in range(n)]


def expect_error(fn: Callable[[], object], *fragments: str) -> str:
    start = time.monotonic()
    with pytest.raises(RolloutError) as info:
        fn()
    elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT + SLACK, f"took {elapsed:.2f} s, timeout {TIMEOUT} s"
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message  # one paragraph
    return message


def test_valid_server_returns_results_in_order():
    with fake_server({**HEALTHY, "POST /infer/": echo_infer}) as (host, port):
        backend = VllmServerBackend([(host, port)], timeout_s=TIMEOUT)
        assert isinstance(backend, RolloutBackend) and backend.name == "vllm"
        assert backend.world_sizes == [1]
        results = backend.generate(requests_(3), **GEN)
    assert [r.text for r in results] == ["0:<image>q0", "1:<image>q1", "2:<image>q2"]
    assert [r.prompt_ids for r in results] == [[100, 1], [101, 1], [102, 1]]
    assert [r.token_ids for r in results] == [[0, 151645], [1, 151645], [2, 151645]]
    assert backend.generate([], **GEN) == []


def test_two_servers_split_contiguously_and_keep_order():
    with fake_server({**HEALTHY, "POST /infer/": echo_infer}) as a, \
            fake_server({**HEALTHY, "POST /infer/": echo_infer}) as b:
        backend = VllmServerBackend([a, b], timeout_s=TIMEOUT)
        results = backend.generate(requests_(3), **GEN)
    # server a got requests 0,1 (indices 0,1 in its chunk), server b request 2 (index 0 in its chunk)
    assert [r.text for r in results] == ["0:<image>q0", "1:<image>q1", "0:<image>q2"]


def test_http_500_is_a_clear_error():
    with fake_server({**HEALTHY, "POST /infer/": reply(500, b"Internal Server Error: CUDA out of memory")}) as srv:
        backend = VllmServerBackend([srv], timeout_s=TIMEOUT)
        expect_error(lambda: backend.generate(requests_(1), **GEN),
                     f"http://127.0.0.1:{srv[1]}", "POST /infer/", "HTTP 500", "CUDA out of memory", "log")


def test_malformed_json_is_a_clear_error():
    with fake_server({**HEALTHY, "POST /infer/": reply(200, b"<html>proxy error</html>")}) as srv:
        backend = VllmServerBackend([srv], timeout_s=TIMEOUT)
        expect_error(lambda: backend.generate(requests_(1), **GEN), "POST /infer/", "malformed response",
                     "not JSON", "proxy error")


def test_wrong_shape_and_count_are_clear_errors():
    with fake_server({**HEALTHY, "POST /infer/": reply(200, server_body([("a", [1], [2])]))}) as srv:
        backend = VllmServerBackend([srv], timeout_s=TIMEOUT)
        expect_error(lambda: backend.generate(requests_(2), **GEN), "sent 2 request(s) but got 1 result(s)")
    with fake_server({**HEALTHY, "POST /infer/": reply(200, [{"response": {"choices": "x"}}])}) as srv:
        backend = VllmServerBackend([srv], timeout_s=TIMEOUT)
        expect_error(lambda: backend.generate(requests_(1), **GEN), "RolloutOutput/ChatCompletionResponse")


def hang_up(handler: BaseHTTPRequestHandler, _: bytes) -> None:
    """The server process dies mid-request: the connection closes without a reply."""
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


def test_a_dropped_connection_is_a_clear_error():
    with fake_server({**HEALTHY, "POST /infer/": hang_up}) as srv:
        backend = VllmServerBackend([srv], timeout_s=TIMEOUT)
        expect_error(lambda: backend.generate(requests_(1), **GEN), "POST /infer/",
                     "the connection failed mid-exchange", "crashed")


def test_a_stall_past_the_timeout_fails_within_the_timeout():
    with fake_server({**HEALTHY, "POST /infer/": reply(200, b"[]", delay=5.0)}) as srv:
        backend = VllmServerBackend([srv], timeout_s=TIMEOUT)
        expect_error(lambda: backend.generate(requests_(1), **GEN), "POST /infer/",
                     f"no complete response within {TIMEOUT:g} s", "rollout_matching.vllm.timeout_s")


def test_a_trickling_body_cannot_stretch_the_timeout():
    with fake_server({**HEALTHY, "POST /infer/": trickle(4.0)}) as srv:
        backend = VllmServerBackend([srv], timeout_s=TIMEOUT)
        expect_error(lambda: backend.generate(requests_(1), **GEN), f"within {TIMEOUT:g} s")


def test_unhealthy_server_fails_at_startup_within_the_timeout():
    with fake_server({"GET /health/": reply(503, b"loading"), "GET /get_world_size/": reply(200, {"world_size": 1})}) as srv:
        expect_error(lambda: VllmServerBackend([srv], timeout_s=TIMEOUT), "GET /health/", "HTTP 503")


def test_nothing_listening_fails_at_startup_within_the_timeout():
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        expect_error(lambda: VllmServerBackend([("127.0.0.1", port)], timeout_s=TIMEOUT),
                     f"http://127.0.0.1:{port} (GET /health/)", "could not connect", "scripts/train_stage2.sh")


@pytest.mark.parametrize(("route", "fragment"), [
    (reply(200, {"world_size": 0}), 'expected {"world_size": <positive int>}'),
    (reply(200, b"not json"), "not JSON"),
    (reply(404, {"detail": "Not Found"}), "not ms-swift 4.6.0's `swift rollout`"),
    (reply(401, {"detail": "Missing bearer token"}), "without --api_key"),
])
def test_world_size_failures(route, fragment):
    with fake_server({"GET /health/": reply(200, {"status": "ok"}), "GET /get_world_size/": route}) as srv:
        expect_error(lambda: VllmServerBackend([srv], timeout_s=TIMEOUT), "GET /get_world_size/", fragment)


def stage2_config(host: str, port: int):
    return load_training_config("configs/train/stage2_ab/ab_mixed.yaml", [
        f"rollout_matching.vllm.servers=[{{host: '{host}', port: {port}}}]", f"rollout_matching.vllm.timeout_s={TIMEOUT}"])


def test_world_size_must_match_the_launch_record(tmp_path, monkeypatch):
    routes = {"GET /health/": reply(200, {"status": "ok"}), "GET /get_world_size/": reply(200, {"world_size": 2})}
    with fake_server(routes) as (host, port):
        record = tmp_path / "rollout_server.json"
        record.write_text(json.dumps({"host": host, "port": port, "world_size": 4}))
        monkeypatch.setenv("ROLLOUT_SERVER_INFO", str(record))
        expect_error(lambda: VllmServerBackend.from_config(stage2_config(host, port)),
                     "world size 2, but the launcher started it with 4")
        record.write_text(json.dumps({"host": host, "port": port, "world_size": 2}))
        backend = VllmServerBackend.from_config(stage2_config(host, port))
        assert backend.world_sizes == [2] and backend.timeout_s == TIMEOUT


def test_from_config_refuses_a_non_loopback_host():
    with pytest.raises(RolloutError, match="not a loopback address"):
        VllmServerBackend.from_config(stage2_config("10.1.2.3", 8000))
