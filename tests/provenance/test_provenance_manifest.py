"""(a) The smoke run's manifest: every field present, and every value true of the run and the machine."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
from pathlib import Path

import pytest
from provenance_helpers import BATCH, MAX_STEPS, RUN_ENV, SAVE_STEPS, SECRETS, SMOKE_CONFIG, git, overrides

from src.config import load_fusion_config, load_training_config
from src.datasets.fusion_schedule import DatasetSpec, build_schedule
from src.datasets.jsonl_index import JsonlIndex
from src.provenance.probes import ENV_ALLOWLIST, VERSIONED_PACKAGES

pytestmark = pytest.mark.slow

TOP_LEVEL = {
    "schema_version", "created_at", "created_at_step", "run", "command", "config", "versions",
    "ms_swift_source", "project_git", "environment", "hardware", "datasets", "rollout_server",
    "checkpoints", "realized_counts", "resumes", "status", "template_fingerprint",
}
NAMED_PACKAGES = {"python", "torch", "transformers", "ms-swift", "trl", "peft", "vllm", "deepspeed"}


@pytest.fixture(scope="module")
def manifest(reference_run) -> dict:
    return json.loads((reference_run.out / "run_manifest.json").read_text())


@pytest.fixture(scope="module")
def cfg(reference_run):
    return load_training_config(SMOKE_CONFIG, overrides(reference_run.out))


def test_every_field_is_present_and_written_before_the_first_step(manifest, reference_run):
    assert set(manifest) == TOP_LEVEL
    assert manifest["schema_version"] == 1
    assert manifest["created_at_step"] == 0
    assert manifest["run"] == {"run_name": "smoke_sft_dense_tiny", "mode": "sft",
                               "output_dir": str(reference_run.out), "seed": 42}
    assert not list(reference_run.out.glob(".run_manifest.json.*")), "a temporary file was left behind"


def test_template_fingerprint_is_checked_and_recorded(manifest, reference_run):
    from src.audit.template_fingerprint import load_fingerprints

    recorded = load_fingerprints()["tiny-qwen3-vl"]
    assert manifest["template_fingerprint"] == {"sha256": recorded["sha256"], "n_tokens": recorded["n_tokens"],
                                                "image_grid_thw": recorded["image_grid_thw"], "pinned": "recorded"}
    assert f"template fingerprint {recorded['sha256'][:12]} (67 probe tokens)" in reference_run.proc.stderr


def test_versions_are_the_installed_ones(manifest):
    versions = manifest["versions"]
    assert NAMED_PACKAGES <= set(versions)
    assert versions["python"] == platform.python_version()
    for name in VERSIONED_PACKAGES:
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        assert versions[name] == installed, name
    assert versions["ms-swift"] == "4.6.0" and versions["torch"] is not None


def test_ms_swift_source_and_project_git(manifest, reference_run, repo_root):
    import swift

    source = manifest["ms_swift_source"]
    assert source["path"] == str(Path(swift.__file__).resolve().parent)
    if source["git"] is None:  # a wheel: no SHA, and the reason says so
        assert source["reason"] and "not" in source["reason"]
    else:
        assert source["git"]["sha"] == git(Path(source["git"]["root"]), "rev-parse", "HEAD").strip()
    project = manifest["project_git"]
    assert project["root"] == str(repo_root) and project["reason"] is None
    assert project["sha"] in {reference_run.head_before, reference_run.head_after}
    assert project["sha"] == git(repo_root, "rev-parse", project["sha"]).strip()
    assert project["dirty"] in {reference_run.dirty_before, reference_run.dirty_after}


def test_command_environment_and_hardware(manifest, reference_run):
    command = manifest["command"]
    assert command["argv"][1:] == ["--config", SMOKE_CONFIG, *overrides(reference_run.out)]
    assert command["orig_argv"][1:3] == ["-m", "src.sft"]
    assert command["overrides"] == overrides(reference_run.out)
    assert command["flags"] == {"resume": False, "allow_existing_run_dir": False, "resume_from": None,
                                "allow_config_change": []}
    env = manifest["environment"]
    assert set(env) <= set(ENV_ALLOWLIST)
    assert {k: env.get(k) for k in RUN_ENV} == RUN_ENV
    text = (reference_run.out / "run_manifest.json").read_text()
    for name, secret in SECRETS.items():
        assert name not in text and secret not in text
    hardware = manifest["hardware"]
    assert hardware["cpu_count"] == os.cpu_count() and hardware["memory_total_bytes"] > 0
    assert hardware["platform"] == platform.platform()
    import torch

    assert hardware["gpu_count"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert len(hardware["gpus"]) == hardware["gpu_count"]
    assert manifest["rollout_server"] is None  # SFT: no vLLM server


def test_resolved_config_chain_and_origins(manifest, cfg):
    record = manifest["config"]
    assert record["entry"] == SMOKE_CONFIG
    assert record["chain"] == ["configs/base.yaml", SMOKE_CONFIG] == list(cfg.chain)
    assert record["resolved"] == json.loads(json.dumps(cfg.resolved))
    assert record["origins"] == cfg.source.explain()
    assert set(record["origins"]) >= {"training.learning_rate", "model.max_model_len", "training.output_dir"}
    assert record["origins"]["training.learning_rate"]["origin"].startswith(f"{SMOKE_CONFIG}:")
    assert record["origins"]["training.output_dir"]["origin"].startswith("override:training.output_dir=")
    assert record["origins"]["model.max_model_len"]["origin"] == "proxy:global_max_length"
    fusion = load_fusion_config(cfg.fusion_config_path)
    assert record["fusion"]["chain"] == list(fusion.chain) == [
        "configs/fusion/variants/synthetic_tiny.yaml", "tests/provenance/data/fusion_short_epoch.yaml"]
    assert record["fusion"]["resolved"] == json.loads(json.dumps(fusion.to_dict()))


def test_chain_files_are_copied_and_hash_to_the_manifest(manifest, reference_run, repo_root):
    files = manifest["config"]["files"]
    chains = manifest["config"]["chain"] + manifest["config"]["fusion"]["chain"]
    assert [f["path"] for f in files] == chains
    assert [f["role"] for f in files] == ["training"] * 2 + ["fusion"] * 2
    for item in files:
        copy = reference_run.out / item["copy"]
        assert item["copy"] == f"config/{item['path']}"
        data = copy.read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["size"]
        assert data == (repo_root / item["path"]).read_bytes()


def test_dataset_fingerprints_and_expected_counts(manifest, cfg, repo_root):
    datasets = manifest["datasets"]
    fusion = load_fusion_config(cfg.fusion_config_path)
    assert [(f["dataset"], f["split"]) for f in datasets["files"]] == [("synthetic_dense", "train"),
                                                                      ("synthetic_dense", "val")]
    for item in datasets["files"]:
        path = repo_root / item["path"]
        data = path.read_bytes()
        assert item["size"] == len(data) == path.stat().st_size
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert item["records"] == sum(1 for line in data.decode().splitlines() if line.strip())
        assert item["records"] == len(JsonlIndex(path))
    train_records = datasets["files"][0]["records"]
    specs = [DatasetSpec(t.name, train_records, t.ratio) for t in fusion.targets]
    schedule = build_schedule(datasets["seed"], 0, specs)
    assert datasets["expected_counts"] == schedule.counts() == {"synthetic_dense": 4}
    assert datasets["epoch_length"] == len(schedule) == 4


def test_realized_counts_checkpoints_and_final_status(manifest):
    assert manifest["status"]["state"] == "completed" and manifest["status"]["global_step"] == MAX_STEPS
    assert manifest["status"]["error_type"] is None and manifest["status"]["signal"] is None
    realized = manifest["realized_counts"]
    assert realized["per_dataset"] == {"synthetic_dense": MAX_STEPS * BATCH}
    assert realized["cumulative"] is True and realized["global_step"] == MAX_STEPS
    saves = manifest["checkpoints"]
    assert [c["name"] for c in saves] == [f"checkpoint-{s}" for s in range(SAVE_STEPS, MAX_STEPS + 1, SAVE_STEPS)]
    assert [c["realized_counts"]["synthetic_dense"] for c in saves] == [SAVE_STEPS * BATCH, MAX_STEPS * BATCH]
    assert [c["epoch"] for c in saves] == [1, 2]  # 2 update steps per epoch
    assert manifest["resumes"] == []
