"""rollout_matching.matching.desc_weight: optional, >= 0, default 0 (IoU-only cost)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from src.config import ConfigError, load_training_config
from src.config.paths import REPO_ROOT
from src.config.schema_stage2 import Matching

SMOKE = REPO_ROOT / "configs/smoke/stage2_ab_tiny.yaml"


def test_desc_weight_defaults_to_zero():
    assert Matching().desc_weight == 0.0
    cfg = load_training_config(SMOKE)
    assert cfg.rollout_matching is not None and cfg.rollout_matching.matching.desc_weight == 0.0


def test_desc_weight_override_and_bounds():
    cfg = load_training_config(SMOKE, ["rollout_matching.matching.desc_weight=0.25"])
    assert cfg.rollout_matching.matching.desc_weight == 0.25
    with pytest.raises(ValidationError):
        Matching(desc_weight=-1.0)
    with pytest.raises(ConfigError) as info:
        load_training_config(SMOKE, ["rollout_matching.matching.desc_weight=-0.5"])
    assert "rollout_matching.matching.desc_weight" in str(info.value)
