"""scripts/train_stage2.sh: dry-run commands, preflight failures, and the process lifecycle.

The lifecycle tests replace `swift rollout` (SWIFT_BIN) with a tiny HTTP server that answers
/health/ and /get_world_size/ like ms-swift 4.6.0, and the learners (TRAIN_SH) with a shell script:
what is tested is the launcher (waits, record, environment, process groups, signals), not vLLM.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from src.rollout.server.health import alive

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "train_stage2.sh"
PY = sys.executable
STAGE2 = "configs/train/stage2_ab/ab_mixed.yaml"
GRPO = "configs/train/grpo/summary_server.yaml"
CLEAN_ENV = ("GPUS", "CUDA_VISIBLE_DEVICES", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "VIRTUAL_ENV",
             "VLLM_API_KEY", "ROLLOUT_SERVER_INFO", "SWIFT_BIN", "TRAIN_SH", "SERVER_WAIT_S")

FAKE_SWIFT = """#!{py}
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
argv = sys.argv[2:]
opt = {{argv[i][2:]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}}
with open(os.environ["FAKE_DIR"] + "/server.json", "w") as f:
    json.dump({{"argv": sys.argv[1:], "pid": os.getpid(), "pgid": os.getpgid(0),
               "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}}, f)
print("fake swift rollout starting", flush=True)
if os.environ.get("FAKE_SWIFT_FAIL"):
    print("RuntimeError: CUDA out of memory (fake)", flush=True)
    sys.exit(3)
world = int(opt["vllm_tensor_parallel_size"]) * int(opt["vllm_data_parallel_size"])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = {{"/health/": {{"status": "ok"}}, "/get_world_size/": {{"world_size": world}}}}.get(self.path)
        data = json.dumps(body).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
time.sleep(float(os.environ.get("FAKE_SWIFT_DELAY", "0.3")))
server = HTTPServer((opt["host"], int(opt["port"])), H)
server.timeout = 0.2
end = time.monotonic() + float(os.environ.get("FAKE_SWIFT_LIFETIME", "60"))
while time.monotonic() < end:
    server.handle_request()
print("fake swift rollout exiting", flush=True)
sys.exit(4)
"""

FAKE_LEARNER = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$FAKE_DIR/learner_args"
echo "$ROLLOUT_SERVER_INFO" > "$FAKE_DIR/learner_env"
echo "$$" > "$FAKE_DIR/learner_pid.tmp" && mv "$FAKE_DIR/learner_pid.tmp" "$FAKE_DIR/learner_pid"
sleep "${FAKE_LEARNER_SLEEP:-0}"
exit "${FAKE_LEARNER_RC:-0}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    path.mkdir()
    (path / "config.json").write_text("{}")
    return path


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    folder = tmp_path / "fakes"
    folder.mkdir()
    (folder / "swift").write_text(FAKE_SWIFT.format(py=PY))
    (folder / "train.sh").write_text(FAKE_LEARNER)
    for name in ("swift", "train.sh"):
        (folder / name).chmod(0o755)
    return folder


def env_for(fakes: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["PYTHON"] = PY
    if fakes is not None:
        env.update(SWIFT_BIN=str(fakes / "swift"), TRAIN_SH=str(fakes / "train.sh"), FAKE_DIR=str(fakes),
                   STOP_GRACE_S="5")
    env.update(extra)
    return env


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, env=env or env_for(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def overrides(model_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["--", f"model.model={model_dir}", f"training.output_dir={run_dir}", *extra]


def line(proc: subprocess.CompletedProcess, label: str) -> list[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = next(ln for ln in proc.stdout.splitlines() if ln.startswith(f"train_stage2.sh: {label}:"))
    return shlex.split(text.split(":", 2)[2])


def flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(f"--{name}") + 1]


# ---------------------------------------------------------------- dry run

def test_dry_run_prints_both_commands(tmp_path, model_dir):
    port, run_dir = free_port(), tmp_path / "run"
    proc = run("--config", STAGE2, "--server-gpus", "0,1", "--train-gpus", "2,3", "--port", str(port), "--dry-run",
               *overrides(model_dir, run_dir))
    server = line(proc, "server command")
    assert server[0] == "CUDA_VISIBLE_DEVICES=0,1" and server[1] == str(Path(PY).parent / "swift")
    assert server[2] == "rollout"
    expected = {"model": str(model_dir), "model_type": "qwen3_vl", "host": "127.0.0.1", "port": str(port),
                "vllm_tensor_parallel_size": "1", "vllm_data_parallel_size": "2", "vllm_max_model_len": "12000",
                "vllm_gpu_memory_utilization": "0.85", "vllm_enforce_eager": "false", "torch_dtype": "bfloat16",
                "template": "qwen3_vl", "max_pixels": "1048576", "vllm_enable_prefix_caching": "true"}
    assert {k: flag(server, k) for k in expected} == expected
    assert not any("api_key" in word for word in server)

    learner = line(proc, "learner command")
    assert learner[:2] == [f"ROLLOUT_SERVER_INFO={run_dir}/rollout_server.json", "CUDA_VISIBLE_DEVICES=2,3"]
    assert learner[2:9] == [PY, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2"]
    assert learner[-1] == f"rollout_matching.vllm.servers=[{{host: '127.0.0.1', port: {port}}}]"
    assert "dry run: nothing was started" in proc.stdout
    assert not run_dir.exists()


def test_dry_run_grpo_server_preset(tmp_path, model_dir):
    port = free_port()
    proc = run("--config", GRPO, "--server-gpus", "3", "--train-gpus", "0,1,2", "--port", str(port), "--dry-run",
               *overrides(model_dir, tmp_path / "run"))
    server = line(proc, "server command")
    assert flag(server, "vllm_max_model_len") == "4096" and flag(server, "vllm_gpu_memory_utilization") == "0.4"
    assert json.loads(flag(server, "vllm_limit_mm_per_prompt")) == {"image": 1}
    assert flag(server, "vllm_data_parallel_size") == "1"
    learner = line(proc, "learner command")
    assert learner[-2:] == ["rlhf.vllm_server_host=['127.0.0.1']", f"rlhf.vllm_server_port=[{port}]"]


def test_tensor_parallel_from_the_config(tmp_path, model_dir):
    extra = "rollout_matching.vllm.tensor_parallel_size=2"
    proc = run("--config", STAGE2, "--server-gpus", "0,1,2,3", "--train-gpus", "4,5", "--port", str(free_port()),
               "--dry-run", *overrides(model_dir, tmp_path / "run", extra))
    server = line(proc, "server command")
    assert (flag(server, "vllm_tensor_parallel_size"), flag(server, "vllm_data_parallel_size")) == ("2", "2")
    bad = run("--config", STAGE2, "--server-gpus", "0,1,2", "--train-gpus", "4", "--port", str(free_port()),
              "--dry-run", *overrides(model_dir, tmp_path / "run", extra))
    assert bad.returncode == 2 and "not a multiple of the tensor parallel size 2" in bad.stderr


# ---------------------------------------------------------------- preflight failures

def preflight(tmp_path: Path, model_dir: Path, *args: str, env: dict[str, str] | None = None,
              extra: tuple[str, ...] = ()) -> str:
    run_dir = tmp_path / "run"
    proc = run("--config", STAGE2, *args, "--dry-run", *overrides(model_dir, run_dir, *extra), env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "server command" not in proc.stdout and not run_dir.exists()
    return proc.stderr


@pytest.mark.parametrize(("gpus", "fragment"), [
    (("0,1", "1,2"), "GPU(s) 1 are in both --server-gpus 0,1 and --train-gpus 1,2"),
    (("", "2,3"), "--server-gpus is empty"),
    (("0,1", ""), "--train-gpus is empty"),
    (("0,a", "2"), "--server-gpus must be a comma-separated list of GPU ids"),
    (("0,0", "2"), "--server-gpus 0,0 lists a GPU twice"),
])
def test_bad_gpu_sets(tmp_path, model_dir, gpus, fragment):
    err = preflight(tmp_path, model_dir, "--server-gpus", gpus[0], "--train-gpus", gpus[1], "--port", str(free_port()))
    assert fragment in err and "nothing was started" in err


def test_missing_gpu_flag(tmp_path, model_dir):
    proc = run("--config", STAGE2, "--server-gpus", "0", "--dry-run")
    assert proc.returncode == 2 and "--train-gpus is required" in proc.stderr


@pytest.mark.parametrize("host", ["10.0.0.5", "0.0.0.0", "example.org"])
def test_non_loopback_host(tmp_path, model_dir, host):
    err = preflight(tmp_path, model_dir, "--server-gpus", "0", "--train-gpus", "1", "--port", str(free_port()),
                    extra=(f"rollout_matching.vllm.servers=[{{host: '{host}', port: 8000}}]",))
    assert "rollout_matching.vllm.servers (override:" in err and "loopback" in err


def test_missing_model_dir(tmp_path, model_dir):
    err = preflight(tmp_path, model_dir, "--server-gpus", "0", "--train-gpus", "1", "--port", str(free_port()),
                    extra=(f"model.model={tmp_path / 'nope'}",))
    assert "model.model (override:model.model=" in err and "does not exist" in err


def test_port_in_use(tmp_path, model_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = preflight(tmp_path, model_dir, "--server-gpus", "0", "--train-gpus", "1", "--port", str(port))
    assert f"port {port} on 127.0.0.1 is in use" in err and "--port" in err


def test_api_key_in_the_environment(tmp_path, model_dir):
    err = preflight(tmp_path, model_dir, "--server-gpus", "0", "--train-gpus", "1", "--port", str(free_port()),
                    env=env_for(VLLM_API_KEY="secret"))
    assert "VLLM_API_KEY is set" in err and "weight sync" in err


def test_all_problems_at_once(tmp_path, model_dir):
    err = preflight(tmp_path, model_dir, "--server-gpus", "0,1", "--train-gpus", "1", "--port", str(free_port()),
                    extra=(f"model.model={tmp_path / 'nope'}", "rollout_matching.vllm.servers=[{host: 10.0.0.5, port: 1}]"))
    assert "preflight failed (3 problems)" in err


def test_config_without_a_rollout_server(tmp_path):
    proc = run("--config", "configs/smoke/stage2_ab_tiny.yaml", "--server-gpus", "0", "--train-gpus", "1", "--dry-run")
    assert proc.returncode == 2 and "does not use a vLLM rollout server" in proc.stderr
    assert "scripts/train.sh" in proc.stderr


def test_invalid_config(tmp_path, model_dir):
    err = preflight(tmp_path, model_dir, "--server-gpus", "0", "--train-gpus", "1", extra=("stage2_ab.bogus=1",))
    assert "the config does not validate" in err and "stage2_ab.bogus" in err


def test_used_run_dir_is_refused_before_anything_is_written(tmp_path, model_dir):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run_manifest.json").write_text("{}")
    (run_dir / "rollout_server.json").write_text('{"old": true}')
    proc = run("--config", STAGE2, "--server-gpus", "0", "--train-gpus", "1", "--port", str(free_port()), "--dry-run",
               *overrides(model_dir, run_dir))
    assert proc.returncode == 2 and "already holds a run" in proc.stderr
    assert json.loads((run_dir / "rollout_server.json").read_text()) == {"old": True}


# ---------------------------------------------------------------- lifecycle (fake server and learners)

def test_full_launch_records_flags_and_stops_the_server(tmp_path, model_dir, fakes):
    port, run_dir = free_port(), tmp_path / "run"
    proc = run("--config", STAGE2, "--server-gpus", "0,1", "--train-gpus", "2,3", "--port", str(port),
               *overrides(model_dir, run_dir), env=env_for(fakes, FAKE_LEARNER_RC="7"))
    assert proc.returncode == 7, proc.stdout + proc.stderr  # the learners' status is the script's status
    server = json.loads((fakes / "server.json").read_text())
    assert server["cuda"] == "0,1" and server["pgid"] == server["pid"]  # its own process group
    assert not alive(server["pid"])  # stopped on exit

    record = json.loads((run_dir / "rollout_server.json").read_text())
    assert {"command", "flags", "host", "port", "gpus", "started_at"} <= record.keys()
    assert record["command"] == [str(fakes / "swift"), *server["argv"]]
    assert (record["host"], record["port"], record["gpus"], record["world_size"]) == ("127.0.0.1", port, [0, 1], 2)
    assert record["flags"]["vllm_max_model_len"] == 12000 and record["flags"]["vllm_enforce_eager"] is False
    assert (fakes / "learner_env").read_text().strip() == str(run_dir / "rollout_server.json")
    args = (fakes / "learner_args").read_text().splitlines()
    assert args[:8] == ["--config", STAGE2, "--gpus", "2,3", "--nnodes", "1", "--node-rank", "0"]
    assert args[-1] == f"rollout_matching.vllm.servers=[{{host: '127.0.0.1', port: {port}}}]"
    assert "fake swift rollout starting" in (run_dir / "rollout_server.log").read_text()


def test_server_that_dies_at_startup(tmp_path, model_dir, fakes):
    run_dir = tmp_path / "run"
    proc = run("--config", STAGE2, "--server-gpus", "0", "--train-gpus", "1", "--port", str(free_port()),
               *overrides(model_dir, run_dir), env=env_for(fakes, FAKE_SWIFT_FAIL="1"))
    assert proc.returncode == 1
    assert "exited before" in proc.stderr and "CUDA out of memory (fake)" in proc.stderr  # the log's tail
    assert not (fakes / "learner_args").exists() and not (run_dir / "rollout_server.json").exists()


def test_server_that_never_gets_healthy(tmp_path, model_dir, fakes):
    start = time.monotonic()
    proc = run("--config", STAGE2, "--server-gpus", "0", "--train-gpus", "1", "--port", str(free_port()),
               "--server-wait", "2", *overrides(model_dir, tmp_path / "run"), env=env_for(fakes, FAKE_SWIFT_DELAY="30"))
    assert proc.returncode == 1 and "did not become healthy within 2 s" in proc.stderr
    assert time.monotonic() - start < 30
    assert not alive(json.loads((fakes / "server.json").read_text())["pid"])


def test_server_that_dies_mid_run_stops_the_learners(tmp_path, model_dir, fakes):
    proc = run("--config", STAGE2, "--server-gpus", "0", "--train-gpus", "1", "--port", str(free_port()),
               *overrides(model_dir, tmp_path / "run"),
               env=env_for(fakes, FAKE_SWIFT_LIFETIME="2", FAKE_LEARNER_SLEEP="60"))
    assert proc.returncode == 1 and "exited while the learners were running" in proc.stderr
    assert not alive(int((fakes / "learner_pid").read_text()))


# A test run started in the background (`pytest &`, some CI runners) ignores SIGINT, children inherit
# that, and bash cannot trap a signal ignored at entry. A terminal launch has it at its default: this
# prefix restores the default and execs bash (same pid, so the test signals the script itself).
AS_FROM_A_TERMINAL = [PY, "-c", ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                                "os.execvp('bash', ['bash', *sys.argv[1:]])")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_both_process_groups(tmp_path, model_dir, fakes, sig):
    bystander = subprocess.Popen(["sleep", "60"])  # not the launcher's: must survive its shutdown
    script = subprocess.Popen(
        [*AS_FROM_A_TERMINAL, str(SCRIPT), "--config", STAGE2, "--server-gpus", "0", "--train-gpus", "1",
         "--port", str(free_port()), *overrides(model_dir, tmp_path / "run")],
        cwd=REPO, env=env_for(fakes, FAKE_LEARNER_SLEEP="60"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (fakes / "learner_pid").exists():
            assert script.poll() is None, script.communicate()
            assert time.monotonic() < deadline, "the learners never started"
            time.sleep(0.1)
        learner, server = int((fakes / "learner_pid").read_text()), json.loads((fakes / "server.json").read_text())
        assert alive(learner) and alive(server["pid"])
        script.send_signal(sig)
        _, err = script.communicate(timeout=30)
    finally:
        if script.poll() is None:
            script.kill()
        bystander_alive = bystander.poll() is None
        bystander.kill()
        bystander.wait()
    assert bystander_alive, "the launcher stopped a process it did not start"
    assert script.returncode == (143 if sig == signal.SIGTERM else 130), err
    assert "stopping the learners" in err and "stopping the rollout server" in err
    assert not alive(learner) and not alive(server["pid"])
