"""The launch preflight: GPU split, port, model directory, run directory, and the `swift rollout`
command line; every problem found (one paragraph each) before anything is started.

`make_plan` returns a `Plan` or raises `LaunchError` with every problem; `shell_assignments` prints
the plan as shell assignments (every value `shlex.quote`d) for scripts/train_stage2.sh to `eval`.
No torch, no ms-swift.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.config import ConfigError, TrainingConfig, display_path, load_training_config, resolve_repo_path
from src.config.server_mode import API_KEY_ENV, host_problem, server_mode_problems
from src.provenance.rollout import ROLLOUT_SERVER_FILE

from .settings import ServerSettings, cli_values, learner_overrides, server_flags, server_settings
from .transport import server_url

SERVER_LOG = "rollout_server.log"


class LaunchError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n\n".join(problems))
        self.problems = problems



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
            "log": str(self.output_dir / SERVER_LOG),
        }


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


def swift_executable(given: str | None) -> str | None:
    if given:
        return given if (Path(given).is_file() or shutil.which(given)) else None
    sibling = Path(sys.executable).parent / "swift"
    return str(sibling) if sibling.is_file() else shutil.which("swift")


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
    swift_bin = swift_executable(swift)
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
        if (hp := host_problem(h)) and settings.kind == "rollout_matching":
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
        argv += [f"--{key}", *cli_values(value)]
    return Plan(config=config, overrides=list(overrides), settings=settings, model_dir=model_dir, host=host,
                port=port, server_gpus=servers_ids, train_gpus=train_ids, data_parallel_size=dp, flags=flags,
                argv=argv, learner_overrides=learner_overrides(settings, host, port), output_dir=output_dir,
                notes=notes)


def shell_assignments(plan: Plan) -> str:
    q = shlex.quote
    scalars = {
        "PLAN_KIND": plan.settings.kind, "MODEL_DIR": str(plan.model_dir), "SERVER_HOST": plan.host,
        "SERVER_PORT": str(plan.port), "SERVER_URL": server_url(plan.host, plan.port),
        "OUTPUT_DIR": str(plan.output_dir), "SERVER_LOG": str(plan.output_dir / SERVER_LOG),
        "SERVER_INFO": str(plan.output_dir / ROLLOUT_SERVER_FILE), "WORLD_SIZE": str(plan.world_size),
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


