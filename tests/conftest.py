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
