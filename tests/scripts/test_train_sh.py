"""scripts/train.sh: the command it resolves (1 GPU, 4 GPUs, 2 nodes), validation first, lint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support.faulty_images import SIZE, good_png, write_dataset

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "train.sh"
PY = sys.executable
LAUNCH_ENV = ("GPUS", "CUDA_VISIBLE_DEVICES", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "VIRTUAL_ENV")


def fake_nvidia_smi(folder: Path, n_gpus: int) -> str:
    """A PATH whose nvidia-smi lists `n_gpus` GPUs (what `--dry-run` checks `--gpus` against)."""
    folder.mkdir(parents=True, exist_ok=True)
    fake = folder / "nvidia-smi"
    fake.write_text("#!/bin/sh\n" + "".join(f"echo 'GPU {i}: H100 (UUID: g{i})'\n" for i in range(n_gpus)))
    fake.chmod(0o755)
    return f"{folder}:{os.environ['PATH']}"


EIGHT_GPU_NODE = fake_nvidia_smi(Path(tempfile.mkdtemp(prefix="fake_gpus_")), 8)


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    base["PYTHON"] = PY
    base["PATH"] = EIGHT_GPU_NODE  # dry runs check --gpus against nvidia-smi
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


def command_of(proc: subprocess.CompletedProcess) -> list[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("train.sh: command:"))
    return line.removeprefix("train.sh: command:").split()


def test_dry_run_one_gpu_runs_python_directly():
    cmd = command_of(run("--config", "configs/smoke/sft_dense_tiny.yaml", "--gpus", "0", "--dry-run",
                         "--", "training.max_steps=3"))
    assert cmd == ["CUDA_VISIBLE_DEVICES=0", PY, "-m", "src.sft", "--config", "configs/smoke/sft_dense_tiny.yaml",
                   "training.max_steps=3"]


def test_dry_run_four_gpus_uses_torchrun_on_a_free_local_port():
    proc = run("--config", "configs/smoke/sft_dense_tiny.yaml", "--gpus", "0,1,2,3", "--dry-run", "--",
               "training.max_steps=3", "training.seed=7")
    cmd = command_of(proc)
    assert cmd[:2] == ["CUDA_VISIBLE_DEVICES=0,1,2,3", PY]
    assert cmd[2:8] == ["-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "4"]
    assert cmd[8:10] == ["--master_addr", "127.0.0.1"]
    assert cmd[10] == "--master_port" and re.fullmatch(r"\d+", cmd[11]) and 0 < int(cmd[11]) < 65536
    assert cmd[12:] == ["-m", "src.sft", "--config", "configs/smoke/sft_dense_tiny.yaml",
                        "training.max_steps=3", "training.seed=7"]
    assert "1 node x 4 processes" in proc.stdout


def test_dry_run_two_nodes_from_flags_and_from_env():
    expected = ["CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7", PY, "-m", "torch.distributed.run", "--nnodes", "2",
                "--node_rank", "1", "--nproc_per_node", "8", "--master_addr", "10.1.2.3", "--master_port", "29600",
                "-m", "src.sft", "--config", "configs/debug.yaml"]
    flags = run("--gpus", "0,1,2,3,4,5,6,7", "--nnodes", "2", "--node-rank", "1", "--master-addr", "10.1.2.3",
                "--master-port", "29600", "--dry-run")
    assert command_of(flags) == expected
    env = run("--dry-run", env={"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.1.2.3", "MASTER_PORT": "29600",
                                "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"})
    assert command_of(env) == expected
    # without a port, every node must agree on one: the fixed default, never a random one
    assert "29500" in command_of(run("--gpus", "0", "--nnodes", "2", "--master-addr", "h0", "--dry-run"))


def test_default_config_and_cpu():
    cmd = command_of(run("--gpus", "none", "--dry-run"))
    assert cmd == ["CUDA_VISIBLE_DEVICES=", PY, "-m", "src.sft", "--config", "configs/debug.yaml"]


def test_gpus_default_to_every_gpu_nvidia_smi_lists(tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: H100 (UUID: a)'\necho 'GPU 1: H100 (UUID: b)'\n")
    fake.chmod(0o755)
    cmd = command_of(run("--dry-run", env={"PATH": f"{tmp_path}:{os.environ['PATH']}"}))
    assert cmd[0] == "CUDA_VISIBLE_DEVICES=0,1" and "--nproc_per_node" in cmd and cmd[cmd.index("--nproc_per_node") + 1] == "2"


def test_config_path_relative_to_the_working_directory(tmp_path):
    cmd = command_of(run("--config", "../configs/debug.yaml", "--gpus", "none", "--dry-run", cwd=REPO / "scripts"))
    assert cmd[-2:] == ["--config", "configs/debug.yaml"]


def test_config_error_stops_before_launch():
    proc = run("--gpus", "0", "--dry-run", "--", "training.learning_rat=1")
    assert proc.returncode == 2
    assert "learning_rate" in proc.stderr and "nothing was launched" in proc.stderr
    assert "command:" not in proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--nnodes", "2", "--gpus", "0"), "--master-addr"),
    (("--gpus", "a,b"), "--gpus"),
    (("--nnodes", "2", "--node-rank", "2", "--master-addr", "h"), "--node-rank"),
    (("--bogus",), "unknown option"),
    (("--config",), "needs a value"),
])
def test_usage_errors(args, message):
    proc = run(*args, "--dry-run")
    assert proc.returncode == 2 and message in proc.stderr


def test_launch_execs_the_printed_command(tmp_path):
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\nif [ "$1 $2" = "-m src.config.tools" ]; then exec {PY} "$@"; fi\n'
                    'echo "RAN CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES $*"\n')
    fake.chmod(0o755)
    proc = run("--gpus", "3", "--", "training.max_steps=1", env={"PYTHON": str(fake)})
    assert proc.returncode == 0, proc.stderr
    assert "RAN CUDA_VISIBLE_DEVICES=3 -m src.sft --config configs/debug.yaml training.max_steps=1" in proc.stdout


def test_dry_run_lists_every_missing_requirement_at_once(tmp_path):
    """One GPU on the node but --gpus 0,1; DeepSpeed not installed; no model weights; a fusion JSONL misspelt:
    all four in one report, exit 2, nothing launched."""
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed here: the missing-package case cannot be faked")
    data = tmp_path / "data"
    fusion = write_dataset(data, [("fine.png", good_png(), SIZE)])
    fusion.write_text(fusion.read_text().replace("train.jsonl", "trian.jsonl"))
    proc = run("--config", "configs/smoke/sft_dense_tiny.yaml", "--gpus", "0,1", "--dry-run", "--",
               f"custom.fusion_config={fusion}", f"model.model={tmp_path / 'no-model'}", "deepspeed.config=zero2",
               env={"PATH": fake_nvidia_smi(tmp_path / "bin", 1)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert "4 things are missing" in err and "Traceback" not in err
    assert "GPU id(s) 1, but nvidia-smi lists 1 GPU(s)" in err
    assert "needs the deepspeed package" in err
    assert "model.model" in err and "no-model does not exist" in err
    assert f"faulty.train_jsonl ({fusion}:3)" in err and "Did you mean" in err
    assert "command:" not in proc.stdout


def test_dry_run_reports_a_bad_image_and_a_node_without_gpus(tmp_path):
    data = tmp_path / "data"
    fusion = write_dataset(data, [("small.png", good_png(), (96, 64))])
    proc = run("--config", "configs/smoke/sft_dense_tiny.yaml", "--gpus", "0", "--dry-run", "--",
               f"custom.fusion_config={fusion}", env={"PATH": os.environ["PATH"], "VLM_PREFLIGHT_CACHE": str(tmp_path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "2 things are missing" in proc.stderr
    assert "nvidia-smi is not on PATH" in proc.stderr
    assert f"{data / 'train.jsonl'}:1: image images/small.png is 200x150" in proc.stderr
