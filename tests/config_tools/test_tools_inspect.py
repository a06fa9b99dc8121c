"""`inspect`: merge chain, key-sorted JSON / YAML payload, --explain origins, invalid configs."""

from __future__ import annotations

import json

import yaml
from config_tools_helpers import DENSE_1024, line_of, payload

from src.config.paths import REPO_ROOT

PRESET = "configs/train/sft/dense_1024.yaml"
BASE = REPO_ROOT / "configs/base.yaml"


def test_inspect_prints_chain_then_key_sorted_json(tool):
    result = tool("inspect", "--config", PRESET)
    assert result.code == 0, result.err
    header = [line for line in result.out.splitlines() if line.startswith("#")]
    chain = [line.split(". ", 1)[1] for line in header if line.startswith("#   ")]
    assert chain == ["configs/base.yaml", "configs/train/sft/dense_1024.yaml"]
    assert result.out.index("configs/base.yaml") < result.out.index("\n{")
    text = payload(result.out)
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert data["global_max_length"] == 12000
    assert data["template"]["max_length"] == 12000  # proxied from global_max_length
    assert data["model"]["max_model_len"] == 12000
    assert data["custom"]["augmentation"]["enabled"] is True
    assert data["training"]["bf16"] is True  # from base.yaml


def test_payload_only_is_pure_json(tool):
    result = tool("inspect", "--config", PRESET, "--payload-only")
    assert result.code == 0
    assert json.loads(result.out)["training"]["run_name"] == "sft_dense_1024"


def test_yaml_format_parses_to_the_same_config(tool):
    as_json = json.loads(payload(tool("inspect", "--config", PRESET).out))
    result = tool("inspect", "--config", PRESET, "--format", "yaml")
    assert result.code == 0
    assert "# extends chain" in result.out
    assert yaml.safe_load(result.out) == as_json


def test_explain_attributes_augmentation_and_global_max_length(tool):
    result = tool("inspect", "--config", PRESET, "--explain", "--format", "json")
    assert result.code == 0, result.err
    entries = json.loads(payload(result.out))
    preset = "configs/train/sft/dense_1024.yaml"
    aug = r"^  augmentation:"
    expected = {
        "global_max_length": line_of(DENSE_1024, r"^global_max_length:"),
        "custom.augmentation.enabled": line_of(DENSE_1024, r"^    enabled:", after=aug),
        "custom.augmentation.bypass_prob": line_of(DENSE_1024, r"^    bypass_prob:", after=aug),
        "custom.augmentation.ops": line_of(DENSE_1024, r"^    ops:", after=aug),
        "custom.augmentation_curriculum.phases": line_of(DENSE_1024, r"^    phases:",
                                                         after=r"^  augmentation_curriculum:"),
    }
    for key, line in expected.items():
        assert entries[key]["origin"] == f"{preset}:{line}", key
        assert entries[key]["overrode"] == []
    assert entries["custom.augmentation.enabled"]["value"] is True
    assert len(entries["custom.augmentation.ops"]["value"]) == 5
    gml = f"{preset}:{expected['global_max_length']}"
    assert entries["template.max_length"]["origin"] == "proxy:global_max_length"
    assert entries["template.max_length"]["via"] == gml
    assert entries["training.bf16"]["origin"] == f"configs/base.yaml:{line_of(BASE, r'^  bf16:')}"
    assert list(entries) == sorted(entries)


def test_explain_text_has_one_line_per_leaf(tool):
    result = tool("inspect", "--config", PRESET, "--explain")
    assert result.code == 0
    line = line_of(DENSE_1024, r"^global_max_length:")
    lines = result.out.splitlines()
    assert f"global_max_length = 12000  <- configs/train/sft/dense_1024.yaml:{line}" in lines
    assert any(x.startswith("custom.augmentation.enabled = true  <- configs/train/sft/dense_1024.yaml:")
               for x in lines)
    assert any(x.startswith("template.max_length = 12000  <- proxy:global_max_length (") for x in lines)


def test_explain_records_overlays_overrides_and_what_they_overrode(tool, overlay):
    path = overlay("exp.yaml", """
        custom:
          augmentation:
            enabled: false
        training:
          run_name: exp
    """)
    result = tool("inspect", "--config", path, "--explain", "--format", "json", "training.learning_rate=1e-4")
    assert result.code == 0, result.err
    assert "#   4. override training.learning_rate=1e-4" in result.out
    entries = json.loads(payload(result.out))
    aug = r"^  augmentation:"
    enabled = entries["custom.augmentation.enabled"]
    assert enabled["origin"] == f"{path.as_posix()}:4"
    assert enabled["overrode"] == [
        f"configs/train/sft/dense_1024.yaml:{line_of(DENSE_1024, r'^    enabled:', after=aug)}"
    ]
    lr = entries["training.learning_rate"]
    assert lr["origin"] == "override:training.learning_rate=1e-4" and lr["value"] == 1e-4
    assert lr["overrode"] == [f"configs/train/sft/dense_1024.yaml:{line_of(DENSE_1024, r'^  learning_rate:')}"]


def test_invalid_config_is_printed_then_errors_and_exit_1(tool, overlay):
    path = overlay("typo.yaml", """
        training:
          learning_rat: 1.0e-4
    """)
    result = tool("inspect", "--config", path)
    assert result.code == 1
    data = json.loads(payload(result.out))
    assert data["training"]["learning_rat"] == 1e-4
    assert "invalid" in result.out.splitlines()[0]
    assert "training.learning_rat" in result.err and "learning_rate" in result.err
    assert f"{path.as_posix()}:3" in result.err
    assert "Traceback" not in result.err


def test_inspect_a_fusion_config(tool):
    result = tool("inspect", "--config", "configs/fusion/variants/bbu_rru_dense_1024.yaml")
    assert result.code == 0
    data = json.loads(payload(result.out))
    assert [t["name"] for t in data["targets"]] == ["bbu_dense", "rru_dense"]
    assert "configs/fusion/base/dense.yaml" in result.out
    assert tool("inspect", "--config", "configs/fusion/base/dense.yaml", "--explain").code == 2


def test_layer_is_validated_without_launch_settings(tool):
    result = tool("inspect", "--config", "configs/base.yaml")
    assert result.code == 0, result.err
    assert "(layer)" in result.out.splitlines()[0]


def test_malformed_override_is_a_usage_error(tool):
    result = tool("inspect", "--config", PRESET, "training.learning_rate")
    assert result.code == 2
    assert "override" in result.err and "Traceback" not in result.err


def test_colour_output_on_request(tool):
    result = tool("inspect", "--config", PRESET, "--explain", "--color", "always")
    assert result.code == 0
    assert "\x1b[" in result.out
    assert "global_max_length" in result.out


def test_fusion_config_outside_configs_is_recognised(tool, tmp_path):
    fusion = tmp_path / "mix.yaml"
    fusion.write_text(f"extends: {REPO_ROOT / 'configs/fusion/variants/bbu_rru_dense_1024.yaml'}\n"
                      "targets:\n  - name: bbu_dense\n    ratio: 0.25\n", encoding="utf-8")
    result = tool("inspect", "--config", fusion, "--payload-only")
    assert result.code == 0, result.err
    ratios = {t["name"]: t["ratio"] for t in json.loads(result.out)["targets"]}
    assert ratios == {"bbu_dense": 0.25, "rru_dense": 1.0}
    assert tool("inspect", "--config", fusion, "training.seed=1").code == 2


def test_explain_shows_what_selected_the_mode(tool):
    grpo = "configs/smoke/grpo_dense_tiny.yaml"
    line = line_of(REPO_ROOT / grpo, r"^  rlhf_type:")
    assert f"# mode: grpo (rlhf.rlhf_type at {grpo}:{line})" in tool("inspect", "--config", grpo, "--explain").out
    result = tool("inspect", "--config", PRESET, "--explain", "mode=stage2_ab")  # invalid: no stage2_ab sections
    assert "# mode: stage2_ab (mode at override:mode=stage2_ab)" in result.out.splitlines()
    assert "# mode: sft (the default: no mode, rlhf.rlhf_type" in tool("inspect", "--config", PRESET, "--explain").out
