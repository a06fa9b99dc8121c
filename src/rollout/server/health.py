"""Launch-side health of a rollout server: wait until a freshly started `swift rollout` answers
`/health/` and `/get_world_size/` as expected, or say why not (it died, another program holds the
port, the wait timed out), with the tail of its log. Stdlib only (no torch, no ms-swift).

The learner side checks the same two routes at start-up (`client.VllmServerBackend.check_servers`), with
the same world-size parser.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from .transport import (
    HEALTH_ROUTE,
    WORLD_SIZE_ROUTE,
    ContractError,
    TransportError,
    http_json,
    load_json,
    server_url,
)

PROG = "train_stage2.sh"


def parse_world_size(body: bytes | str) -> int:
    """The `/get_world_size/` answer (`{"world_size": tp * dp}`); raises ContractError."""
    data = load_json(body)
    size = data.get("world_size") if isinstance(data, dict) else None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ContractError(f'expected {{"world_size": <positive int>}}, got {str(data)[:200]}')
    return size


def alive(pid: int) -> bool:
    """The process `pid` runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def log_tail(path: str | None, lines: int = 40) -> str:
    if not path:
        return ""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return f"\n(no server log at {path})"
    return f"\n--- last {len(text)} lines of {path} ---\n" + "\n".join(text) + "\n--- end of log ---"


def wait_for_server(host: str, port: int, *, timeout_s: float, world_size: int | None, pid: int | None = None,
                    log: str | None = None, poll_s: float = 1.0, out: Any = sys.stderr) -> str | None:
    """None once /health/ and /get_world_size/ answer as expected; else the error text."""
    url, start = server_url(host, port), time.monotonic()
    next_note = start + 30
    while True:
        if pid is not None and not alive(pid):
            return (f"the rollout server (pid {pid}) exited before {url}/health/ answered: it could not start. "
                    f"Its log says why (wrong model path or type, out of GPU memory, port taken, vLLM missing)."
                    + log_tail(log))
        try:
            if http_json(host, port, "GET", HEALTH_ROUTE, timeout_s=2.0).status == 200:
                reply = http_json(host, port, "GET", WORLD_SIZE_ROUTE, timeout_s=5.0)
                try:
                    size = parse_world_size(reply.body) if reply.status == 200 else None
                except ContractError:
                    size = None
                if size is None:
                    return (f"{url}/get_world_size/ answered HTTP {reply.status} {reply.text(200)!r}: the program "
                            "on that port is not ms-swift's `swift rollout`." + log_tail(log))
                if world_size is not None and size != world_size:
                    return (f"{url}/get_world_size/ says {size}, expected {world_size} (tensor x data parallel over "
                            "the server GPUs): another server answers on that port." + log_tail(log))
                return None
        except TransportError:
            pass
        now = time.monotonic()
        if now - start >= timeout_s:
            return (f"the rollout server at {url} did not become healthy within {timeout_s:g} s (loading a model "
                    "into vLLM can take minutes: raise --server-wait), see its log." + log_tail(log))
        if now >= next_note:
            print(f"{PROG}: waiting for the rollout server at {url} ({now - start:.0f} s)", file=out, flush=True)
            next_note += 30
        time.sleep(min(poll_s, max(0.0, timeout_s - (now - start))))


