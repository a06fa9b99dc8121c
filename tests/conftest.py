"""Shared fixtures: the offline tiny models and synthetic data (built once, cached in artifacts/)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "artifacts"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    from src.models.tiny_qwen3_vl import TinySpec, build_tiny_model

    return build_tiny_model(ARTIFACTS / "tiny-qwen3-vl", TinySpec())


@pytest.fixture(scope="session")
def tiny_coord_model_dir() -> Path:
    from src.models.tiny_qwen3_vl import TinySpec, build_tiny_model

    return build_tiny_model(ARTIFACTS / "tiny-qwen3-vl-coord", TinySpec(coord_tokens=True))


@pytest.fixture(scope="session")
def synthetic_data_dir() -> Path:
    from src.datasets.synthetic import SyntheticSpec, generate_dataset

    return generate_dataset(ARTIFACTS / "data" / "synthetic_dense", SyntheticSpec(seed=0, n_train=64, n_val=16))


@pytest.fixture(scope="session")
def easy_rl_data_dir() -> Path:
    """The 16 + 8 easy records the RL and GKD smokes train on (the warm checkpoints never saw them)."""
    from src.models.warm_checkpoint import build_records

    return build_records()


@pytest.fixture(scope="session")
def warm_model_dir(easy_rl_data_dir) -> Path:
    """The warm plain-JSON tiny checkpoint (src/models/warm_checkpoint.py; `make artifacts-warm`)."""
    from src.models.warm_checkpoint import build_warm_checkpoint

    return build_warm_checkpoint("plain")


@pytest.fixture(scope="session")
def warm_coord_model_dir(easy_rl_data_dir) -> Path:
    """The warm coordinate-token tiny checkpoint (stage2_ab smokes)."""
    from src.models.warm_checkpoint import build_warm_checkpoint

    return build_warm_checkpoint("coord")
