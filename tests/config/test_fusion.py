"""Fusion configs: extends + name-based merge of targets/sources."""

from __future__ import annotations

import pytest

from src.config import ConfigError, load_fusion_config
from src.config.paths import REPO_ROOT

BASE = """
targets:
  - name: a
    train_jsonl: data/a/train.jsonl
    val_jsonl: data/a/val.jsonl
    ratio: 1.0
  - dataset: b
    train_jsonl: data/b/train.jsonl
sources:
  - name: s
    train_jsonl: data/s/train.jsonl
    ratio: 0.2
"""


def test_merge_by_name_with_dataset_fallback_and_append(write):
    write("base.yaml", BASE)
    path = write("v.yaml", """
        extends: base.yaml
        targets:
          - name: a
            train_jsonl: data/a_2048/train.jsonl
          - dataset: b
            ratio: 0.5
          - name: c
            train_jsonl: data/c/train.jsonl
            mode: summary
    """)
    fusion = load_fusion_config(path)
    by_name = {t.name: t for t in fusion.targets}
    assert [t.name for t in fusion.targets] == ["a", "b", "c"]
    assert by_name["a"].train_jsonl == "data/a_2048/train.jsonl"
    assert by_name["a"].val_jsonl == "data/a/val.jsonl"          # deep-merged, not replaced
    assert by_name["b"].ratio == 0.5 and by_name["b"].dataset == "b"
    assert by_name["c"].mode == "summary" and by_name["c"].ratio == 1.0
    assert by_name["a"].augmentation is True                      # targets default on
    assert fusion.sources[0].augmentation is False                # sources default off
    assert by_name["a"].train_path == REPO_ROOT / "data/a_2048/train.jsonl"
    assert [p.rsplit("/", 1)[-1] for p in fusion.chain] == ["base.yaml", "v.yaml"]


def test_explicit_empty_list_replaces(write):
    write("base.yaml", BASE)
    fusion = load_fusion_config(write("v.yaml", "extends: base.yaml\nsources: []\n"))
    assert fusion.sources == () and len(fusion.targets) == 2


def test_overlay_field_unknown_to_the_schema_fails_with_path_and_file(write):
    write("base.yaml", BASE)
    path = write("v.yaml", """
        extends: base.yaml
        targets:
          - name: a
            ratoi: 0.5
    """)
    with pytest.raises(ConfigError) as info:
        load_fusion_config(path)
    text = str(info.value)
    assert f"targets[0].ratoi ({path}:4): unknown key. Did you mean `ratio`?" in text


def test_overlay_entry_matching_nothing_is_reported(write):
    write("base.yaml", BASE)
    path = write("v.yaml", """
        extends: base.yaml
        targets:
          - name: aa
            ratio: 0.5
    """)
    with pytest.raises(ConfigError) as info:
        load_fusion_config(path)
    text = str(info.value)
    assert "targets[2].train_jsonl" in text and "matches no entry of the files it extends" in text
    assert "did you mean 'a'?" in text and f"{path}:3" in text


def test_diamond_fusion_configs_resolve(write):
    write("root.yaml", BASE)
    write("left.yaml", "extends: root.yaml\ntargets:\n  - {name: a, ratio: 0.3}\n")
    write("right.yaml", "extends: root.yaml\ntargets:\n  - {name: b, ratio: 0.7}\n")
    fusion = load_fusion_config(write("top.yaml", "extends: [left.yaml, right.yaml]\n"))
    assert {t.name: t.ratio for t in fusion.targets} == {"a": 0.3, "b": 0.7}
    assert len(fusion.chain) == 4


def test_structural_errors(write):
    path = write("bad.yaml", """
        inherit: base.yaml
        targets:
          - ratio: 1.0
          - {name: x, train_jsonl: a.jsonl}
          - {name: x, train_jsonl: b.jsonl}
    """)
    with pytest.raises(ConfigError) as info:
        load_fusion_config(path)
    text = str(info.value)
    assert "inherit" in text and "Fusion configs use `extends`" in text
    assert "needs a `name`" in text and "appears twice" in text


def test_names_unique_across_targets_and_sources(write):
    path = write("dup.yaml", """
        targets: [{name: x, train_jsonl: a.jsonl}]
        sources: [{name: x, train_jsonl: b.jsonl}]
    """)
    with pytest.raises(ConfigError, match="repeated: x"):
        load_fusion_config(path)


def test_synthetic_presets():
    tiny = load_fusion_config(REPO_ROOT / "configs/fusion/variants/synthetic_tiny.yaml")
    assert [t.train_jsonl for t in tiny.targets] == ["artifacts/data/synthetic_dense/train.jsonl"]
    two = load_fusion_config("configs/fusion/variants/synthetic_fusion_tiny.yaml")
    assert [t.name for t in two.targets] == ["synthetic_dense", "synthetic_dense_b"]
    assert two.to_dict()["targets"][1]["train_jsonl"] == "artifacts/data/synthetic_dense_b/train.jsonl"
