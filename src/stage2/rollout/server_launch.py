"""The Python half of scripts/train_stage2.sh: preflight + server command, health wait, launch record.

    python -m src.stage2.rollout.server_launch plan --config C --server-gpus 0,1 --train-gpus 2,3
                                                    [--port P] [--swift PATH] [key.path=value ...]
    python -m src.stage2.rollout.server_launch wait --host H --port P --pid PID --log FILE
                                                    --timeout S --world-size N
    python -m src.stage2.rollout.server_launch record --out FILE --pid PID   (JSON from $RECORD_JSON)

`plan` prints shell assignments (every value `shlex.quote`d) for the script to `eval`, or every
preflight problem (one paragraph each) on stderr with exit 2. `wait` exits 0 once `/health/` and
`/get_world_size/` answer as expected, 1 (with the server log's tail) when the server dies or the
wait times out. Imports no torch and no ms-swift: this runs before anything heavy.

Server flags come from the resolved config: stage2_ab reads `rollout_matching.vllm` (falling back
to `rlhf.vllm_*` for knobs it does not have), GRPO/GKD server mode reads `rlhf.vllm_*`. Tensor
parallel is the configured size, data parallel fills the server GPUs; the max model len is the
resolved server length (proxied from `global_max_length`); the template/model keys that change how
a prompt is encoded are passed too, so the server's prompt token ids equal the learner's. Never
`--api_key` (it breaks ms-swift 4.6.0's weight sync); the server binds to the loopback host.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.config import ConfigError, TrainingConfig, display_path, load_training_config, resolve_repo_path
from src.config.server_mode import API_KEY_ENV, host_problem, server_max_model_len, server_mode_problems

from .transport import TransportError, http_json, server_url

PROG = "train_stage2.sh"
# Template/model keys that change how the server encodes a prompt (kept equal to the learner's).
TEMPLATE_KEYS = ("template", "system", "max_pixels", "agent_template", "enable_thinking", "add_non_thinking_prefix",
                 "preserve_thinking", "response_prefix", "norm_bbox", "use_chat_template", "template_backend")
MODEL_KEYS = ("model_type", "torch_dtype", "rope_scaling", "model_kwargs", "new_special_tokens")
DEFAULT_MODEL_TYPE = "qwen3_vl"


class LaunchError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n\n".join(problems))
        self.problems = problems


@dataclass
class ServerSettings:
    """What the config says about its rollout server(s)."""

    kind: str  # stage2_ab | rlhf
    servers: list[tuple[str, int]]
    uses_base_url: bool
    tensor_parallel_size: int
    gpu_memory_utilization: float | None
    max_model_len: int | None
    enforce_eager: bool
    extra: dict[str, Any] = field(default_factory=dict)  # vllm_* flags passed only when set


@dataclass
class Plan:
    config: str
    overrides: list[str]
    settings: ServerSettings
    model_dir: Path
    host: str
    port: int
    server_gpus: list[int]
    train_gpus: list[int]
    data_parallel_size: int
    flags: dict[str, Any]
    argv: list[str]
    learner_overrides: list[str]
    output_dir: Path
    notes: list[str]

    @property
    def world_size(self) -> int:
        return self.settings.tensor_parallel_size * self.data_parallel_size

    def record(self) -> dict[str, Any]:
        gpus = ",".join(map(str, self.server_gpus))
        return {
            "command": self.argv, "env": {"CUDA_VISIBLE_DEVICES": gpus}, "flags": self.flags,
            "host": self.host, "port": self.port, "gpus": self.server_gpus, "cuda_visible_devices": gpus,
            "model": str(self.model_dir), "dtype": self.flags.get("torch_dtype"),
            "tensor_parallel_size": self.settings.tensor_parallel_size,
            "data_parallel_size": self.data_parallel_size, "world_size": self.world_size,
            "max_model_len": self.flags.get("vllm_max_model_len"),
            "enforce_eager": self.flags.get("vllm_enforce_eager"),
            "gpu_memory_utilization": self.flags.get("vllm_gpu_memory_utilization"),
            "config": self.config, "overrides": self.overrides, "learner_gpus": self.train_gpus,
            "log": str(self.output_dir / "rollout_server.log"),
        }


# ---------------------------------------------------------------- config -> server settings

def _rlhf(cfg: TrainingConfig, key: str) -> Any:
    return cfg.rlhf.get(key)


def server_settings(cfg: TrainingConfig) -> ServerSettings | None:
    """None when the config does not use a vLLM rollout server."""
    rm = cfg.rollout_matching
    extra_keys = ("vllm_enable_prefix_caching", "vllm_limit_mm_per_prompt", "vllm_max_num_seqs")
    if rm is not None and rm.backend == "vllm" and rm.vllm is not None and rm.vllm.mode == "server":
        v = rm.vllm
        extra = {k: _rlhf(cfg, k) for k in extra_keys}
        extra["vllm_enable_prefix_caching"] = v.enable_prefix_caching
        for own, flag in (("limit_mm_per_prompt", "vllm_limit_mm_per_prompt"), ("max_num_seqs", "vllm_max_num_seqs")):
            if getattr(v, own, None) is not None:
                extra[flag] = getattr(v, own)
        eager = getattr(v, "enforce_eager", None)
        return ServerSettings(
            kind="stage2_ab", servers=[(s.host, s.port) for s in v.servers], uses_base_url=False,
            tensor_parallel_size=v.tensor_parallel_size, gpu_memory_utilization=v.gpu_memory_utilization,
            max_model_len=server_max_model_len(cfg),
            enforce_eager=bool(eager if eager is not None else _rlhf(cfg, "vllm_enforce_eager")),
            extra=extra)
    if _rlhf(cfg, "use_vllm") and _rlhf(cfg, "vllm_mode") == "server":
        hosts, ports = _rlhf(cfg, "vllm_server_host"), _rlhf(cfg, "vllm_server_port")
        urls = _rlhf(cfg, "vllm_server_base_url")
        servers: list[tuple[str, int]] = []
        if urls:
            from urllib.parse import urlsplit

            for url in urls if isinstance(urls, list) else [urls]:
                parts = urlsplit(str(url))
                servers.append((parts.hostname or "", parts.port or 0))
        elif hosts and ports:
            hosts = hosts if isinstance(hosts, list) else [hosts]
            ports = ports if isinstance(ports, list) else [ports]
            servers = list(zip(hosts, ports))
        return ServerSettings(
            kind="rlhf", servers=servers, uses_base_url=bool(urls),
            tensor_parallel_size=int(_rlhf(cfg, "vllm_tensor_parallel_size") or 1),
            gpu_memory_utilization=_rlhf(cfg, "vllm_gpu_memory_utilization"),
            max_model_len=server_max_model_len(cfg),
            enforce_eager=bool(_rlhf(cfg, "vllm_enforce_eager")),
            extra={k: _rlhf(cfg, k) for k in extra_keys})
    return None


# ---------------------------------------------------------------- preflight pieces

def parse_gpus(text: str, flag: str) -> tuple[list[int], str | None]:
    text = (text or "").strip()
    if not text:
        return [], f"{flag} is empty: give at least one GPU id (e.g. {flag} 0,1)."
    if not re.fullmatch(r"\d+(,\d+)*", text):
        return [], f"{flag} must be a comma-separated list of GPU ids like 0,1, got {text!r}."
    ids = [int(x) for x in text.split(",")]
    if len(set(ids)) != len(ids):
        return ids, f"{flag} {text} lists a GPU twice."
    return ids, None


def port_problem(host: str, port: int) -> str | None:
    if not 1 <= port <= 65535:
        return f"port {port} is not in 1..65535."
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # what uvicorn does
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            return (f"port {port} on {host} is in use ({exc.strerror}): another server (maybe an earlier "
                    f"rollout server still running: `ss -ltnp 'sport = :{port}'`) holds it. Stop it or pass "
                    "--port with a free port.")
    return None


def _swift_executable(given: str | None) -> str | None:
    if given:
        return given if (Path(given).is_file() or shutil.which(given)) else None
    sibling = Path(sys.executable).parent / "swift"
    return str(sibling) if sibling.is_file() else shutil.which("swift")


def _cli_values(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True)]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def server_flags(cfg: TrainingConfig, settings: ServerSettings, model_dir: Path, host: str, port: int,
                 data_parallel_size: int) -> dict[str, Any]:
    flags: dict[str, Any] = {"model": str(model_dir), "model_type": DEFAULT_MODEL_TYPE}
    flags.update({k: cfg.model[k] for k in MODEL_KEYS if cfg.model.get(k) is not None})
    flags.update({k: cfg.template[k] for k in TEMPLATE_KEYS if cfg.template.get(k) is not None})
    flags.update({
        "host": host, "port": port,
        "vllm_tensor_parallel_size": settings.tensor_parallel_size,
        "vllm_data_parallel_size": data_parallel_size,
        "vllm_max_model_len": settings.max_model_len,
        "vllm_gpu_memory_utilization": settings.gpu_memory_utilization,
        "vllm_enforce_eager": settings.enforce_eager,
    })
    flags.update({k: v for k, v in settings.extra.items() if v is not None})
    flags = {k: v for k, v in flags.items() if v is not None}
    assert "api_key" not in flags  # never: it breaks ms-swift 4.6.0's weight sync
    return flags


def learner_overrides(settings: ServerSettings, host: str, port: int) -> list[str]:
    if settings.kind == "stage2_ab":
        return [f"rollout_matching.vllm.servers=[{{host: '{host}', port: {port}}}]"]
    if settings.uses_base_url:
        return [f"rlhf.vllm_server_base_url=['{server_url(host, port)}']"]
    return [f"rlhf.vllm_server_host=['{host}']", f"rlhf.vllm_server_port=[{port}]"]


def _run_dir_problem(cfg: TrainingConfig, run_dir: Path) -> str | None:
    from src.provenance.rundir import scan_run_dir

    state = scan_run_dir(run_dir)
    if state.used and not cfg.training.get("resume_from_checkpoint"):
        return (f"training.output_dir {display_path(run_dir)} already holds a run ({state.describe()}); the "
                "launcher would overwrite its rollout_server.json and the learners would refuse the directory. "
                f"Choose another one (-- training.output_dir={display_path(run_dir)}_2 training.logging_dir=...) "
                "or resume it (-- training.resume_from_checkpoint=PATH).")
    return None


# ---------------------------------------------------------------- plan

def make_plan(config: str, overrides: list[str], server_gpus: str, train_gpus: str, port: int | None = None,
              swift: str | None = None, env: dict[str, str] | None = None) -> Plan:
    env = dict(os.environ) if env is None else env
    problems: list[str] = []
    servers_ids, p = parse_gpus(server_gpus, "--server-gpus")
    problems += [p] if p else []
    train_ids, p = parse_gpus(train_gpus, "--train-gpus")
    problems += [p] if p else []
    shared = sorted(set(servers_ids) & set(train_ids))
    if shared:
        problems.append(f"GPU(s) {','.join(map(str, shared))} are in both --server-gpus {server_gpus} and "
                        f"--train-gpus {train_gpus}: the rollout server and the learners need disjoint GPU sets.")
    if env.get(API_KEY_ENV):
        problems.append(f"{API_KEY_ENV} is set in the environment: the rollout server must run without an API "
                        "key (`swift rollout --api_key` breaks ms-swift 4.6.0's weight sync); it is bound to "
                        f"loopback instead. Unset {API_KEY_ENV}.")
    swift_bin = _swift_executable(swift)
    if swift_bin is None:
        problems.append(f"the `swift` CLI ({swift or 'next to ' + sys.executable + ' or on PATH'}) was not found: "
                        "install ms-swift in this environment or set SWIFT_BIN.")
    try:
        cfg = load_training_config(config, overrides)
    except ConfigError as exc:
        raise LaunchError([*problems, f"the config does not validate; nothing was started.\n{exc}"]) from None

    settings = server_settings(cfg)
    if settings is None:
        raise LaunchError([*problems, (
            f"{cfg.source.display} does not use a vLLM rollout server (stage2_ab needs rollout_matching.backend: "
            "vllm with vllm.mode: server; GRPO/GKD need rlhf.use_vllm: true with rlhf.vllm_mode: server). "
            "Launch it with scripts/train.sh.")])
    if settings.kind == "rlhf":
        problems += [pr.render() for pr in server_mode_problems(cfg, env) if pr.key != API_KEY_ENV]
    elif not settings.servers:
        problems.append("rollout_matching.vllm.servers is empty.")
    host, conf_port = settings.servers[0] if settings.servers else ("127.0.0.1", 8000)
    for h, _ in settings.servers:
        if (hp := host_problem(h)) and settings.kind == "stage2_ab":
            problems.append(f"rollout_matching.vllm.servers ({cfg.source.where('rollout_matching.vllm.servers')}): "
                            f"{hp}.")
    port = conf_port if port is None else port
    notes = []
    if len(settings.servers) > 1:
        notes.append(f"the config lists {len(settings.servers)} servers; this launcher starts one (data parallel "
                     "over the server GPUs) and points the learners at it")

    model_value = cfg.model.get("model")
    model_dir = resolve_repo_path(str(model_value)) if model_value else Path("")
    if not model_value:
        problems.append("model.model is not set: the server needs the local model directory.")
    elif not (model_dir / "config.json").is_file():
        what = "does not exist" if not model_dir.exists() else "holds no config.json"
        problems.append(f"model.model ({cfg.source.where('model.model')}): the local model directory "
                        f"{display_path(model_dir)} {what}; no hub is reachable, so put the weights there or "
                        "override model.model=PATH.")
    tp = settings.tensor_parallel_size
    dp = len(servers_ids) // tp if servers_ids else 0
    if servers_ids and len(servers_ids) % tp:
        problems.append(f"--server-gpus {server_gpus} has {len(servers_ids)} GPU(s), not a multiple of the tensor "
                        f"parallel size {tp}: use a multiple of {tp} GPUs.")
    if settings.max_model_len is None:
        problems.append("the server's max model len is unknown: set global_max_length (it is proxied into the "
                        "rollout server's length).")
    if not host_problem(host) and (pp := port_problem(host, port)):
        problems.append(pp)
    output_dir = resolve_repo_path(str(cfg.training.get("output_dir") or "output"))
    if rp := _run_dir_problem(cfg, output_dir):
        problems.append(rp)
    if problems:
        raise LaunchError(problems)

    flags = server_flags(cfg, settings, model_dir, host, port, dp)
    argv = [str(swift_bin), "rollout"]
    for key, value in flags.items():
        argv += [f"--{key}", *_cli_values(value)]
    return Plan(config=config, overrides=list(overrides), settings=settings, model_dir=model_dir, host=host,
                port=port, server_gpus=servers_ids, train_gpus=train_ids, data_parallel_size=dp, flags=flags,
                argv=argv, learner_overrides=learner_overrides(settings, host, port), output_dir=output_dir,
                notes=notes)


def shell_assignments(plan: Plan) -> str:
    q = shlex.quote
    scalars = {
        "PLAN_KIND": plan.settings.kind, "MODEL_DIR": str(plan.model_dir), "SERVER_HOST": plan.host,
        "SERVER_PORT": str(plan.port), "SERVER_URL": server_url(plan.host, plan.port),
        "OUTPUT_DIR": str(plan.output_dir), "SERVER_LOG": str(plan.output_dir / "rollout_server.log"),
        "SERVER_INFO": str(plan.output_dir / "rollout_server.json"), "WORLD_SIZE": str(plan.world_size),
        "RECORD_JSON": json.dumps(plan.record(), sort_keys=True),
        "PLAN_SUMMARY": (f"server GPUs {','.join(map(str, plan.server_gpus))} (tensor parallel "
                         f"{plan.settings.tensor_parallel_size} x data parallel {plan.data_parallel_size}), "
                         f"learner GPUs {','.join(map(str, plan.train_gpus))}, server "
                         f"{server_url(plan.host, plan.port)}" + "".join(f"; note: {n}" for n in plan.notes)),
    }
    lines = [f"{k}={q(v)}" for k, v in scalars.items()]
    lines.append("SERVER_CMD=(" + " ".join(q(a) for a in plan.argv) + ")")
    lines.append("LEARNER_OVERRIDES=(" + " ".join(q(a) for a in plan.learner_overrides) + ")")
    return "\n".join(lines)


# ---------------------------------------------------------------- wait and record

def _alive(pid: int) -> bool:
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
        if pid is not None and not _alive(pid):
            return (f"the rollout server (pid {pid}) exited before {url}/health/ answered: it could not start. "
                    f"Its log says why (wrong model path or type, out of GPU memory, port taken, vLLM missing)."
                    + log_tail(log))
        try:
            if http_json(host, port, "GET", "/health/", timeout_s=2.0).status == 200:
                reply = http_json(host, port, "GET", "/get_world_size/", timeout_s=5.0)
                try:
                    size = json.loads(reply.body)["world_size"] if reply.status == 200 else None
                except (ValueError, KeyError, TypeError):
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


def write_record(out_path: str, record: dict[str, Any], pid: int | None) -> Path:
    from src.provenance.atomic import atomic_write_json

    record = dict(record, pid=pid, started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return atomic_write_json(out_path, record)


# ---------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.stage2.rollout.server_launch")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--config", required=True)
    p.add_argument("--server-gpus", required=True)
    p.add_argument("--train-gpus", required=True)
    p.add_argument("--port", type=int)
    p.add_argument("--swift")
    p.add_argument("overrides", nargs="*")
    w = sub.add_parser("wait")
    w.add_argument("--host", required=True)
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--pid", type=int)
    w.add_argument("--log")
    w.add_argument("--timeout", type=float, required=True)
    w.add_argument("--world-size", type=int)
    r = sub.add_parser("record")
    r.add_argument("--out", required=True)
    r.add_argument("--pid", type=int)
    args = parser.parse_args(argv)

    if args.cmd == "plan":
        try:
            plan = make_plan(args.config, args.overrides, args.server_gpus, args.train_gpus, args.port, args.swift)
        except LaunchError as exc:
            n = len(exc.problems)
            print(f"{PROG}: error: preflight failed ({n} problem{'s' if n > 1 else ''}); nothing was started.\n\n"
                  + "\n\n".join(f"- {p}" for p in exc.problems), file=sys.stderr)
            return 2
        print(shell_assignments(plan))
        return 0
    if args.cmd == "wait":
        error = wait_for_server(args.host, args.port, timeout_s=args.timeout, world_size=args.world_size,
                                pid=args.pid, log=args.log)
        if error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return 1
        return 0
    write_record(args.out, json.loads(os.environ["RECORD_JSON"]), args.pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
