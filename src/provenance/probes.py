"""Probes of the software and machine a run uses: package versions, git state of the project and
of ms-swift's source, an allowlist of environment variables, and hardware.

Every probe answers; when something cannot be known the value is null and a `reason` says why.
Git runs with a timeout and never prompts. Environment variables are copied only when their name
is on `ENV_ALLOWLIST` (never by prefix), so tokens and keys cannot leak into a manifest.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

GIT_TIMEOUT_S = 10.0

# Distribution names (PyPI) whose versions go into the manifest; null when not installed.
VERSIONED_PACKAGES: tuple[str, ...] = (
    "torch", "torchvision", "transformers", "ms-swift", "trl", "peft", "accelerate",
    "vllm", "deepspeed", "flash-attn", "qwen-vl-utils", "numpy", "pydantic", "PyYAML",
)

# Variables that change what a run does or where it runs. Names only, no prefixes or patterns.
ENV_ALLOWLIST: tuple[str, ...] = (
    # distributed launch
    "CUDA_VISIBLE_DEVICES", "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK",
    "MASTER_ADDR", "MASTER_PORT", "NNODES", "NODE_RANK", "NPROC_PER_NODE", "TORCHELASTIC_RUN_ID",
    # threads and determinism
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG", "TOKENIZERS_PARALLELISM",
    # image budget read by qwen_vl_utils / ms-swift templates
    "MAX_PIXELS", "MIN_PIXELS", "VIDEO_MAX_PIXELS", "VIDEO_MIN_PIXELS", "FPS", "FPS_MAX_FRAMES",
    "IMAGE_FACTOR", "SIZE_FACTOR",
    # offline mode and caches
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME", "MODELSCOPE_CACHE",
    "USE_HF", "USE_MODELSCOPE_HUB",
    # CUDA / NCCL behaviour
    "PYTORCH_CUDA_ALLOC_CONF", "NCCL_DEBUG", "NCCL_IB_DISABLE", "NCCL_P2P_DISABLE",
    "NCCL_SOCKET_IFNAME", "NCCL_ASYNC_ERROR_HANDLING", "TORCH_NCCL_ASYNC_ERROR_HANDLING",
    "TORCH_DISTRIBUTED_DEBUG", "CUDA_LAUNCH_BLOCKING",
    # rollout server (vLLM server mode) and launcher
    "ROLLOUT_SERVER_INFO", "VLLM_USE_V1", "VLLM_WORKER_MULTIPROC_METHOD",
)
# Belt and braces: an allowlisted name with one of these words (split on "_") is still dropped.
_SECRET_WORDS = frozenset({"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "CREDENTIALS", "AUTH"})


def package_versions(names: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git(folder: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
        check=False, env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"git {args[0]} failed")
    return proc.stdout


def git_state(folder: str | Path) -> dict[str, Any]:
    """`{root, sha, dirty, branch, reason}` of the git work tree holding `folder`.

    `dirty`: tracked files differ from HEAD (untracked files are counted in `untracked`)."""
    state: dict[str, Any] = {"root": None, "sha": None, "dirty": None, "branch": None, "untracked": None,
                             "reason": None}
    try:
        state["root"] = _git(Path(folder), "rev-parse", "--show-toplevel").strip()
        state["sha"] = _git(Path(folder), "rev-parse", "HEAD").strip()
        porcelain = _git(Path(folder), "status", "--porcelain", "--untracked-files=normal").splitlines()
        state["dirty"] = any(not line.startswith("??") for line in porcelain)
        state["untracked"] = sum(1 for line in porcelain if line.startswith("??"))
        branch = _git(Path(folder), "rev-parse", "--abbrev-ref", "HEAD").strip()
        state["branch"] = None if branch == "HEAD" else branch
    except FileNotFoundError:
        state["reason"] = "git is not installed"
    except subprocess.TimeoutExpired:
        state["reason"] = f"git did not answer within {GIT_TIMEOUT_S:.0f} s"
    except RuntimeError as exc:
        state["reason"] = f"not a git checkout ({exc})" if state["root"] is None else str(exc)
    return state


def swift_source() -> dict[str, Any]:
    """Where ms-swift is imported from, and its git state when that is a checkout of ms-swift itself
    (a wheel installed inside some other repository's virtualenv does not count)."""
    spec = importlib.util.find_spec("swift")
    if spec is None or not spec.origin:
        return {"path": None, "install": None, "git": None, "reason": "ms-swift is not importable"}
    package = Path(spec.origin).resolve().parent
    info: dict[str, Any] = {"path": str(package), "install": _install_kind(), "git": None, "reason": None}
    git = git_state(package.parent)
    if git["root"] is None:
        info["reason"] = f"{git['reason']}: installed as a {info['install']}, not a git checkout"
        return info
    try:
        _git(Path(git["root"]), "ls-files", "--error-unmatch", str(package / "__init__.py"))
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        info["reason"] = (f"its folder lies inside the git work tree {git['root']} but ms-swift's files are "
                          f"not tracked there (installed as a {info['install']}): not a checkout of ms-swift")
        return info
    info["git"] = git
    return info


def _install_kind() -> str:
    try:
        raw = importlib.metadata.distribution("ms-swift").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return "source tree on sys.path (no distribution metadata)"
    if not raw:
        return "wheel from a package index"
    data = json.loads(raw)
    if data.get("dir_info", {}).get("editable"):
        return f"editable install of {data.get('url')}"
    return f"install from {data.get('url')}"


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_WORDS & set(name.upper().split("_")))


def environment(names: tuple[str, ...] = ENV_ALLOWLIST) -> dict[str, str]:
    """Allowlisted variables that are set (unset ones are omitted)."""
    return {n: os.environ[n] for n in names if n in os.environ and not is_secret_name(n)}


def _total_memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def hardware() -> dict[str, Any]:
    """Machine facts; GPUs through torch.cuda when torch is already imported (never imports it)."""
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_total_bytes": _total_memory_bytes(),
        "torch_cuda": None,
        "gpu_count": 0,
        "gpus": [],
    }
    torch = sys.modules.get("torch")
    if torch is None:
        return info
    info["torch_cuda"] = getattr(torch.version, "cuda", None)
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        info["gpu_count"] = count
        for i in range(count):
            props = torch.cuda.get_device_properties(i)
            info["gpus"].append({"index": i, "name": props.name, "total_memory_bytes": int(props.total_memory),
                                 "capability": f"{props.major}.{props.minor}"})
    return info
