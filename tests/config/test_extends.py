"""extends: C3 order, diamonds, cycles, merge rules."""

from __future__ import annotations

import pytest

from src.config import ConfigError, resolve_config


def test_diamond_keeps_left_override_unless_right_overrides(write):
    write("d.yaml", """
        training: {lr: 1, warmup: 1, decay: 1}
    """)
    write("b.yaml", """
        extends: d.yaml
        training: {lr: 2, warmup: 2}
    """)
    write("c.yaml", """
        extends: d.yaml
        training: {warmup: 3}
    """)
    a = write("a.yaml", """
        extends: [b.yaml, c.yaml]
    """)
    resolved = resolve_config(a)
    # D applied once, before both parents: B's override of lr survives C (which inherits D);
    # warmup is overridden by C, applied after B.
    assert resolved.data["training"] == {"lr": 2, "warmup": 3, "decay": 1}
    assert [p.rsplit("/", 1)[-1] for p in resolved.chain] == ["d.yaml", "b.yaml", "c.yaml", "a.yaml"]
    assert str(resolved.origins["training.lr"]).endswith("b.yaml:2")
    assert str(resolved.origins["training.warmup"]).endswith("c.yaml:2")
    assert str(resolved.origins["training.decay"]).endswith("d.yaml:1")


def test_each_file_applied_once_in_deep_diamond(write):
    write("root.yaml", "x: {v: root}\n")
    write("l1.yaml", "extends: root.yaml\n")
    write("l2.yaml", "extends: [root.yaml, l1.yaml]\n")
    top = write("top.yaml", "extends: [l1.yaml, l2.yaml]\n")
    chain = [p.rsplit("/", 1)[-1] for p in resolve_config(top).chain]
    assert chain == ["root.yaml", "l1.yaml", "l2.yaml", "top.yaml"]


def test_extends_paths_are_relative_to_the_writing_file(write):
    write("base/root.yaml", "k: {v: 1}\n")
    write("base/mid.yaml", "extends: root.yaml\nk: {w: 2}\n")
    top = write("presets/deep/top.yaml", "extends: ../../base/mid.yaml\n")
    assert resolve_config(top).data == {"k": {"v": 1, "w": 2}}


def test_cycle_error_names_the_cycle(write):
    write("a.yaml", "extends: b.yaml\n")
    write("b.yaml", "extends: c.yaml\n")
    write("c.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError) as info:
        resolve_config(write("start.yaml", "extends: a.yaml\n"))
    text = str(info.value)
    assert "extends cycle:" in text
    chain = text.split("extends cycle: ")[1].split("\n")[0]
    names = [p.rsplit("/", 1)[-1] for p in chain.split(" -> ")]
    assert names == ["a.yaml", "b.yaml", "c.yaml", "a.yaml"]


def test_self_extension_is_a_cycle(write):
    path = write("self.yaml", "extends: self.yaml\n")
    with pytest.raises(ConfigError, match=r"extends cycle: .*self.yaml -> .*self.yaml"):
        resolve_config(path)


def test_inconsistent_hierarchy_is_a_clear_error(write):
    write("p.yaml", "a: 1\n")
    write("q.yaml", "b: 1\n")
    write("x.yaml", "extends: [p.yaml, q.yaml]\n")
    write("y.yaml", "extends: [q.yaml, p.yaml]\n")
    with pytest.raises(ConfigError, match="inconsistent extends hierarchy"):
        resolve_config(write("z.yaml", "extends: [x.yaml, y.yaml]\n"))


def test_missing_parent_names_file_and_line(write):
    path = write("a.yaml", "k: 1\nextends:\n  - nope.yaml\n")
    with pytest.raises(ConfigError) as info:
        resolve_config(path)
    assert "nope.yaml" in str(info.value) and "a.yaml:3" in str(info.value)


def test_lists_replace_and_mappings_merge(write):
    write("base.yaml", """
        custom:
          augmentation:
            enabled: true
            ops: [{name: hflip, prob: 0.5}, {name: vflip, prob: 0.5}]
    """)
    top = write("top.yaml", """
        extends: base.yaml
        custom:
          augmentation:
            ops: [{name: vflip, prob: 0.1}]
    """)
    aug = resolve_config(top).data["custom"]["augmentation"]
    assert aug == {"enabled": True, "ops": [{"name": "vflip", "prob": 0.1}]}


def test_explicit_null_sets_null_and_replaces_a_mapping(write):
    write("base.yaml", """
        custom:
          augmentation_curriculum: {phases: [{until_percent: 100, bypass_prob: 0.1}]}
          user_prompt: hello
    """)
    top = write("top.yaml", """
        extends: base.yaml
        custom:
          augmentation_curriculum: null
          user_prompt: ~
    """)
    resolved = resolve_config(top)
    assert resolved.data["custom"] == {"augmentation_curriculum": None, "user_prompt": None}
    origin = resolved.origins["custom.augmentation_curriculum"]
    assert str(origin).endswith("top.yaml:3")
    overridden = [str(o) for o in resolved.history["custom.augmentation_curriculum"]]
    assert overridden and overridden[0].endswith("base.yaml:2")


def test_empty_mapping_merges_as_no_op(write):
    write("base.yaml", "training: {a: 1}\n")
    top = write("top.yaml", "extends: base.yaml\ntraining: {}\n")
    assert resolve_config(top).data == {"training": {"a": 1}}


def test_duplicate_keys_in_one_file_are_errors(write):
    path = write("dup.yaml", "training:\n  a: 1\n  a: 2\n")
    with pytest.raises(ConfigError, match=r"duplicate key \(first written on line 2\)"):
        resolve_config(path)


def test_yaml_syntax_error_has_file_and_line(write):
    path = write("bad.yaml", "training:\n  a: [1, 2\n  b: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: invalid YAML"):
        resolve_config(path)
