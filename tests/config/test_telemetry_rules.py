"""custom.telemetry with a loss path that has no per-token losses is a config error naming the conflict."""

from __future__ import annotations

import pytest

from src.config import ConfigError, load_training_config

SFT = "configs/smoke/sft_dense_tiny.yaml"
GKD = "configs/smoke/gkd_tiny.yaml"
OFF = ["custom.telemetry.per_dataset=false", "custom.telemetry.per_token_type=false"]


@pytest.mark.parametrize(("preset", "override", "says"), [
    (SFT, "training.use_liger_kernel=true", "fused linear cross entropy"),
    (SFT, "training.label_smoothing_factor=0.1", "label smoother"),
    (SFT, "training.loss_type=dft", "custom loss_type"),
    (SFT, "template.sequence_parallel_size=2", "sequence parallelism"),
    (GKD, "rlhf.gkd_logits_topk=20", "top-k JSD"),
    (GKD, "training.use_liger_kernel=true", "fused linear cross entropy"),
])
def test_conflicting_loss_path_is_refused_with_the_way_out(preset, override, says):
    with pytest.raises(ConfigError) as err:
        load_training_config(preset, [override])
    text = str(err.value)
    key = override.split("=")[0]
    assert says in text and f"{key} (override:{override})" in text
    assert "custom.telemetry (on, the default in this mode)" in text and "per_token_type to false" in text
    load_training_config(preset, [override, *OFF])  # telemetry off: the setting is fine for this rule


def test_default_loss_paths_pass():
    load_training_config(SFT, ["training.label_smoothing_factor=0.0", "template.sequence_parallel_size=1",
                               "training.enable_dft_loss=true"])  # DFT keeps ms-swift's per-token path
    load_training_config(GKD)
