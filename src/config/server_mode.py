"""vLLM server-mode checks for GKD/GRPO runs, made before anything heavy loads.

The config rules of the rollout server (whose launcher, client and contract live in
`src/rollout/server/`). They stay here because config validation (`requirements.py`, layer 1,
never torch) runs them before anything heavy, and a config module cannot import a higher layer.

Constructing ms-swift's `RLHFArguments` with `vllm_mode: server` connects to the rollout servers
at once, so a wrong address costs a timeout (or a hang) after minutes of start-up. These checks
run on the typed config first (no torch, no ms-swift) and raise `ConfigError` with one paragraph
per problem, naming the key and the file (or override) that wrote it:

- every server is on this node, on loopback (`127.0.0.0/8`, `::1`, `localhost`): `0.0.0.0` is a
  bind-all address, not a server address, and a non-loopback server is refused;
- ports are written explicitly, one per host, in 1..65535, each (host, port) once;
- `vllm_server_base_url` (instead of host/port): http(s), loopback, an explicit port, no
  credentials or API key in it;
- the server's max model length (`rlhf.vllm_max_model_len`, proxied from `global_max_length`;
  the launcher passes it to `swift rollout`) holds at least `global_max_length` tokens;
- no API key: `swift rollout --api_key` (or `VLLM_API_KEY` in the environment the launcher
  starts it from) breaks the trainer's weight sync in ms-swift 4.6.0.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import ConfigError, Problem
from .resolve import MISSING
from .training_config import TrainingConfig

API_KEY_ENV = "VLLM_API_KEY"
_HOST, _PORT, _URL = "rlhf.vllm_server_host", "rlhf.vllm_server_port", "rlhf.vllm_server_base_url"
_MAX_LEN = "rlhf.vllm_max_model_len"
_LOOPBACK_HINT = ("start the server on this node bound to loopback (`swift rollout --host 127.0.0.1`) and "
                  "write 127.0.0.1 here")


def is_server_mode(cfg: TrainingConfig) -> bool:
    """ms-swift RLHF server mode (GRPO/GKD): `rlhf.use_vllm` with `rlhf.vllm_mode: server`."""
    return bool(cfg.rlhf.get("use_vllm")) and cfg.rlhf.get("vllm_mode") == "server"


def rollout_matching_server_mode(cfg: TrainingConfig) -> bool:
    """stage2_ab Channel-B rollouts through vLLM servers (`rollout_matching.backend: vllm`, `vllm.mode: server`)."""
    rm = cfg.rollout_matching
    return bool(rm is not None and rm.backend == "vllm" and rm.vllm is not None and rm.vllm.mode == "server")


def uses_rollout_server(cfg: TrainingConfig) -> bool:
    """The run talks to `swift rollout` servers (either kind above): the launcher starts one, the manifest records it."""
    return is_server_mode(cfg) or rollout_matching_server_mode(cfg)


def server_max_model_len(cfg: TrainingConfig) -> int | None:
    """The rollout server's max model length, resolved in this one place: stage2_ab's
    ``rollout_matching.vllm.max_model_len``, else ``rlhf.vllm_max_model_len``, else ``global_max_length``
    (both proxied from it, src/config/lengths.py)."""
    rm = cfg.rollout_matching
    own = rm.vllm.max_model_len if rm is not None and rm.vllm is not None else None
    return own or cfg.rlhf.get("vllm_max_model_len") or cfg.global_max_length


def host_problem(host: Any) -> str | None:
    """Why `host` is not an acceptable rollout-server address (None when it is)."""
    if not isinstance(host, str) or not host.strip():
        return f"a server host must be a non-empty string, got {host!r}"
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return None
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return (f"server host {host!r} is not a loopback address; rollout servers must run on this node: "
                f"{_LOOPBACK_HINT}")
    if address.is_unspecified:
        return (f"server host {host!r} is the bind-all address, not an address to connect to, and a server "
                f"bound to it is reachable from the whole network; {_LOOPBACK_HINT}")
    if not address.is_loopback:
        return f"server host {host!r} is not a loopback address; {_LOOPBACK_HINT}"
    return None


def as_list(value: Any) -> list[Any] | None:
    """A config value that may be one item or a list, as a list (None when unset)."""
    if value is MISSING or value is None:
        return None
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _port_problem(port: Any) -> str | None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return f"a server port must be an integer in 1..65535, got {port!r}"
    return None


def _url_problems(url: Any, env_hint: str) -> list[str]:
    if not isinstance(url, str):
        return [f"a server base URL must be a string, got {url!r}"]
    parts = urlsplit(url)
    problems = []
    if parts.scheme not in ("http", "https"):
        problems.append(f"base URL {url!r} needs an http:// or https:// scheme")
    if parts.username or parts.password:
        problems.append(f"base URL {url!r} carries credentials; {env_hint}")
    if any(k.lower() in ("api_key", "apikey", "key", "token") for k in parse_qs(parts.query)):
        problems.append(f"base URL {url!r} carries an API key; {env_hint}")
    host_issue = host_problem(parts.hostname or "")
    if host_issue:
        problems.append(host_issue)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        problems.append(f"base URL {url!r} names no valid port; write it explicitly (http://127.0.0.1:8000)")
    return problems


def server_mode_problems(cfg: TrainingConfig, env: Mapping[str, str] | None = None) -> list[Problem]:
    """Every server-mode problem of `cfg` (empty when it is not a server-mode run)."""
    if not is_server_mode(cfg):
        return []
    env = os.environ if env is None else env
    where = cfg.source.where
    key_hint = ("the trainer cannot send an API key and ms-swift 4.6.0's weight sync fails against a server "
                "started with `swift rollout --api_key`; rely on the loopback binding instead")
    problems: list[Problem] = []
    hosts, urls = as_list(cfg.rlhf.get("vllm_server_host")), as_list(cfg.rlhf.get("vllm_server_base_url"))
    ports = as_list(cfg.rlhf.get("vllm_server_port"))
    if hosts and urls:
        problems.append(Problem(f"set either {_URL} or {_HOST}/{_PORT}, not both (ms-swift silently ignores the "
                                "hosts when a base URL is set).", key=_URL, where=where(_URL)))
    elif urls:
        problems += [Problem(m, key=_URL, where=where(_URL)) for u in urls for m in _url_problems(u, key_hint)]
        if len(set(urls)) != len(urls):
            problems.append(Problem(f"each server once: {urls} repeats a URL.", key=_URL, where=where(_URL)))
    elif hosts:
        problems += [Problem(m, key=_HOST, where=where(_HOST)) for h in hosts if (m := host_problem(h))]
        if not ports:
            problems.append(Problem(
                f"server mode needs the port of every server in {_PORT} (one per entry of {_HOST}, e.g. "
                f"[8000]); it is missing, and ms-swift would silently assume 8000.",
                key=_PORT, where=where(_HOST)))
        else:
            problems += [Problem(m, key=_PORT, where=where(_PORT)) for p in ports if (m := _port_problem(p))]
            if len(ports) != len(hosts):
                problems.append(Problem(
                    f"one port per server: {len(hosts)} host(s) {hosts} ({where(_HOST)}) but {len(ports)} "
                    f"port(s) {ports}.", key=_PORT, where=where(_PORT)))
            elif len(set(zip(hosts, ports))) != len(hosts):
                problems.append(Problem(f"each server once: hosts {hosts} with ports {ports} repeat a "
                                        "(host, port) pair.", key=_PORT, where=where(_PORT)))
    else:
        problems.append(Problem(f"server mode needs {_HOST} and {_PORT} (or {_URL}).", key=_HOST,
                                where=where("rlhf.vllm_mode")))

    g, max_len = cfg.global_max_length, cfg.rlhf.get("vllm_max_model_len")
    if isinstance(max_len, int) and isinstance(g, int) and max_len < g:
        problems.append(Problem(
            f"the rollout server holds {max_len} tokens but global_max_length {g} ({where('global_max_length')}) "
            "bounds prompt + completion; the server's max model len must be >= global_max_length. Remove "
            f"{_MAX_LEN} (it is proxied from global_max_length).", key=_MAX_LEN, where=where(_MAX_LEN)))
    elif max_len is None and g is None:
        problems.append(Problem(
            "server mode needs global_max_length: the rollout server's --vllm_max_model_len is taken from it.",
            key="global_max_length", where=cfg.source.display))
    if env.get(API_KEY_ENV):
        problems.append(Problem(f"{API_KEY_ENV} is set in the environment; {key_hint}. Unset it.",
                                key=API_KEY_ENV, where="environment"))
    return problems


def validate_server_mode(cfg: TrainingConfig, env: Mapping[str, str] | None = None) -> None:
    """Raise `ConfigError` listing every server-mode problem (no-op for other runs)."""
    problems = server_mode_problems(cfg, env)
    if problems:
        raise ConfigError(problems, subject=f"{cfg.source.display} (vLLM server mode)")
