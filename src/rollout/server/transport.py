"""Plain HTTP/1.1 with a hard deadline, for the rollout server (stdlib only, no torch, no ms-swift),
the server's routes, and response bodies as JSON (`load_json`, `ContractError` for a body that breaks
the contract; contract.py and health.py parse on top of it).

`http_json` bounds the *whole* exchange (connect, send, headers, body) by one deadline: before every
socket operation the socket timeout is set to the time left, so a server that stalls, trickles bytes
or never answers costs at most `timeout_s` (plus one scheduler tick), never longer.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

_CHUNK = 1 << 16
# The routes of `swift rollout` (ms-swift 4.6.0 `SwiftRolloutDeploy`; see contract.py).
HEALTH_ROUTE = "/health/"
WORLD_SIZE_ROUTE = "/get_world_size/"
INFER_ROUTE = "/infer/"


class ContractError(ValueError):
    """A payload that cannot be built or a response that does not follow the contract (one sentence)."""


def load_json(body: bytes | str) -> Any:
    """A response body as JSON; raises ContractError quoting the start of a body that is not JSON."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        excerpt = text.strip()[:200] or "<empty body>"
        raise ContractError(f"the body is not JSON ({exc.__class__.__name__}: {exc}); it starts with "
                            f"{excerpt!r}") from exc


class TransportError(Exception):
    """The exchange did not complete; `kind` is connect | timeout | io."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes

    def text(self, limit: int = 500) -> str:
        text = self.body.decode("utf-8", errors="replace").strip()
        return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def format_host(host: str) -> str:
    """`::1` -> `[::1]` for URLs; other hosts unchanged."""
    host = host.strip()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def server_url(host: str, port: int) -> str:
    return f"http://{format_host(host)}:{port}"


class _Deadline:
    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.end = time.monotonic() + timeout_s

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TransportError("timeout", f"no complete response within {self.timeout_s:g} s")
        return left


def http_json(host: str, port: int, method: str, path: str, payload: Any = None, *,
              timeout_s: float) -> HttpReply:
    """Send `payload` as JSON (or nothing) and return status + raw body; raise TransportError."""
    deadline = _Deadline(timeout_s)
    body = None if payload is None else json.dumps(payload).encode("utf-8")
    conn = http.client.HTTPConnection(host.strip("[]"), port, timeout=deadline.left())
    try:
        try:
            conn.connect()
        except (ConnectionRefusedError, socket.gaierror, OSError) as exc:
            if isinstance(exc, (TimeoutError, socket.timeout)):
                raise TransportError("timeout", f"connecting took longer than {timeout_s:g} s") from exc
            raise TransportError("connect", f"could not connect: {exc.strerror or exc}") from exc
        sock = conn.sock  # kept: http.client drops conn.sock when the reply closes the connection
        try:
            sock.settimeout(deadline.left())
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            sock.settimeout(deadline.left())
            response = conn.getresponse()
            chunks = []
            while True:
                sock.settimeout(deadline.left())
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
            deadline.left()  # a body that completed exactly at the deadline still counts as late
            return HttpReply(response.status, b"".join(chunks))
        except TimeoutError as exc:
            raise TransportError("timeout", f"no complete response within {timeout_s:g} s") from exc
        except (http.client.HTTPException, OSError) as exc:
            raise TransportError("io", f"the connection failed mid-exchange ({type(exc).__name__}: {exc})") from exc
    finally:
        conn.close()
