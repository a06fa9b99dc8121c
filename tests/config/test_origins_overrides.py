"""Per-key origins (file:line, overrides) and command-line overrides."""

from __future__ import annotations

import pytest

from src.config import ConfigError, load_training_config, parse_override, resolve_config


def test_origins_record_file_line_and_what_was_overridden(write):
    write("base.yaml", """
        training:
          learning_rate: 1.0e-4
          seed: 1
    """)
    top = write("top.yaml", """
        extends: base.yaml

        training:
          learning_rate: 2.0e-4
    """)
    resolved = resolve_config(top, ["training.learning_rate=3e-4"])
    assert resolved.data["training"]["learning_rate"] == pytest.approx(3e-4)
    assert str(resolved.origins["training.learning_rate"]) == "override:training.learning_rate=3e-4"
    history = [str(o) for o in resolved.history["training.learning_rate"]]
    assert history[0].endswith("base.yaml:2") and history[1].endswith("top.yaml:4")
    assert str(resolved.origins["training.seed"]).endswith("base.yaml:3")
    assert resolved.where("training.seed").endswith("base.yaml:3")
    assert [o.text for o in resolved.overrides] == ["training.learning_rate=3e-4"]


def test_where_inside_lists_points_at_the_item_line(write):
    path = write("a.yaml", """
        custom:
          augmentation:
            ops:
              - name: hflip
                prob: 0.5
              - name: rotate
                prob: 0.5
    """)
    resolved = resolve_config(path)
    assert resolved.where("custom.augmentation.ops[1].prob").endswith("a.yaml:7")


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("training.learning_rate=1e-4", "training.learning_rate", 1e-4),
        ("training.max_steps=5", "training.max_steps", 5),
        ("custom.user_prompt=hello world", "custom.user_prompt", "hello world"),
        ("training.report_to=[none]", "training.report_to", ["none"]),
        ("custom.telemetry={per_dataset: false}", "custom.telemetry", {"per_dataset": False}),
        ("custom.augmentation_curriculum=null", "custom.augmentation_curriculum", None),
        ("training.eval_strategy='no'", "training.eval_strategy", "no"),
    ],
)
def test_override_values_are_yaml(text, key, value):
    override = parse_override(text)
    assert (override.key, override.value) == (key, value)


@pytest.mark.parametrize("text", ["no_equals", "=5", "a..b=1", "extends=x.yaml", "a.b=[1,"])
def test_bad_overrides_are_config_errors(text):
    with pytest.raises(ConfigError, match="override"):
        parse_override(text)


def test_overrides_deep_merge_and_form_the_last_layer(preset):
    cfg = load_training_config(preset(""), [
        "custom.telemetry={per_dataset: false}", "training.max_steps=3", "training.max_steps=4",
    ])
    assert cfg.custom.telemetry.per_dataset is False and cfg.custom.telemetry.per_token_type is True
    assert cfg.training["max_steps"] == 4
    history = [str(o) for o in cfg.source.history["training.max_steps"]]
    assert history[-1] == "override:training.max_steps=3"


def test_yaml12_floats_without_dot(write):
    path = write("f.yaml", "training:\n  learning_rate: 1e-4\n  weight_decay: -2E+1\n  run_name: 1e4x\n")
    training = resolve_config(path).data["training"]
    assert training == {"learning_rate": 1e-4, "weight_decay": -20.0, "run_name": "1e4x"}


def test_override_of_unknown_key_is_reported_as_override(preset):
    with pytest.raises(ConfigError) as info:
        load_training_config(preset(""), ["training.learning_rat=1e-4"])
    assert "training.learning_rat (override:training.learning_rat=1e-4)" in str(info.value)


def test_explain_table_is_key_sorted_and_serializable(preset):
    cfg = load_training_config(preset("training: {max_steps: 3}"), ["training.seed=7"])
    table = cfg.source.explain()
    assert list(table) == sorted(table)
    assert table["training.seed"]["origin"] == "override:training.seed=7"
    assert table["training.seed"]["overrode"][0].startswith("configs/base.yaml:")
    assert table["training.max_steps"]["origin"].endswith("exp.yaml:2")
    assert table["training.max_steps"]["overrode"][0].startswith("configs/smoke/sft_dense_tiny.yaml:")
    assert table["template.max_length"] == {"origin": "proxy:global_max_length", "overrode": []}
