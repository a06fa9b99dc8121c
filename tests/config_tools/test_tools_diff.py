"""`diff`: deterministic resolved-config diffs, fusion selections, and the parity profile."""

from __future__ import annotations

import json

import pytest
from config_tools_helpers import section

from src.config.paths import REPO_ROOT
from src.config.tools import cli as config_cli
from src.config.tools.diffing import ABSENT, Change, Keyed, diff_trees
from src.seed_migration.parity import PARITY_ALLOWLIST, augmentation_disabled, parity_reason

AUG_OFF = """
    custom:
      augmentation:
        enabled: false
        bypass_prob: 1.0
        ops: {ops}
"""
AUG_ON = """
    custom:
      augmentation:
        enabled: true
        ops: {ops}
"""
FLIP = "[{name: hflip, prob: 0.5}]"
ROTATE = "[{name: rotate, prob: 0.3, max_degrees: 5.0}, {name: hflip, prob: 0.5}]"


def _pair(overlay, left_body: str, right_body: str):
    return overlay("left.yaml", left_body), overlay("right.yaml", right_body)


def test_parity_passes_when_only_run_identity_differs(tool, overlay):
    left, right = _pair(
        overlay,
        "training:\n  output_dir: output/sft/old\n  run_name: old\n",
        "training:\n  output_dir: output/sft/new\n  run_name: new\n",
    )
    result = tool("diff", "--left", left, "--right", right, "--profile", "parity")
    assert result.code == 0, result.out + result.err
    assert section(result.out, "allowed differences") == [
        'training.output_dir: "output/sft/old" -> "output/sft/new"  [run identity]',
        'training.run_name: "old" -> "new"  [run identity]',
    ]
    assert "forbidden differences (0): none" in result.out
    assert result.out.rstrip().endswith("parity: PASSED (2 allowed, 0 forbidden differences)")


def test_parity_fails_naming_learning_rate(tool, overlay):
    left, right = _pair(
        overlay,
        "training:\n  run_name: old\n",
        "training:\n  run_name: new\n  learning_rate: 3.0e-4\n",
    )
    result = tool("diff", "--left", left, "--right", right, "--profile", "parity")
    assert result.code == 1
    assert section(result.out, "forbidden differences") == ["training.learning_rate: 0.0002 -> 0.0003"]
    assert section(result.out, "allowed differences") == ['training.run_name: "old" -> "new"  [run identity]']
    assert "parity: FAILED (1 forbidden difference: training.learning_rate)" in result.out


def test_parity_allows_augmentation_changes_when_disabled_on_both_sides(tool, overlay):
    left, right = _pair(overlay, AUG_OFF.format(ops=FLIP), AUG_OFF.format(ops=ROTATE))
    result = tool("diff", "--left", left, "--right", right, "--profile", "parity")
    assert result.code == 0, result.out
    allowed = section(result.out, "allowed differences")
    assert allowed and all(line.startswith("custom.augmentation") for line in allowed)
    assert all(line.endswith("[augmentation disabled on both sides]") for line in allowed)
    # the curriculum (inherited from the preset) may differ too while augmentation is off
    left2 = overlay("left2.yaml", AUG_OFF.format(ops=FLIP) + "      augmentation_curriculum: null\n")
    assert tool("diff", "--left", left2, "--right", right, "--profile", "parity").code == 0


def test_parity_forbids_augmentation_changes_when_enabled(tool, overlay):
    left, right = _pair(overlay, AUG_ON.format(ops=FLIP), AUG_ON.format(ops=ROTATE))
    result = tool("diff", "--left", left, "--right", right, "--profile", "parity")
    assert result.code == 1
    forbidden = section(result.out, "forbidden differences")
    assert forbidden[0].startswith("custom.augmentation.ops[0].max_degrees: (absent) -> 5.0")
    assert any(line.startswith("custom.augmentation.ops[1]: (absent) -> ") for line in forbidden)
    assert "custom.augmentation.ops" in result.out.splitlines()[-1]


def test_parity_forbids_augmentation_changes_when_enabled_on_one_side(tool, overlay):
    left, right = _pair(overlay, AUG_ON.format(ops=FLIP), AUG_OFF.format(ops=FLIP))
    result = tool("diff", "--left", left, "--right", right, "--profile", "parity")
    assert result.code == 1
    assert "custom.augmentation.enabled: true -> false" in section(result.out, "forbidden differences")


def test_diff_compares_resolved_fusion_configs(tool, overlay, tmp_path):
    fusion = tmp_path / "fusion.yaml"
    fusion.write_text(
        f"extends: {REPO_ROOT / 'configs/fusion/variants/bbu_rru_dense_1024.yaml'}\n"
        "targets:\n  - name: bbu_dense\n    ratio: 0.5\n",
        encoding="utf-8",
    )
    right = overlay("right.yaml", f"custom:\n  fusion_config: {fusion}\n")
    result = tool("diff", "--left", "configs/train/sft/dense_1024.yaml", "--right", right, "--profile", "parity")
    assert result.code == 1
    forbidden = section(result.out, "forbidden differences")
    assert "fusion:targets[bbu_dense].ratio: 1.0 -> 0.5" in forbidden
    assert any(line.startswith("custom.fusion_config: ") for line in forbidden)
    plain = tool("diff", "--left", "configs/train/sft/dense_1024.yaml", "--right", right)
    assert plain.code == 0
    assert "fusion:targets[bbu_dense].ratio: 1.0 -> 0.5" in section(plain.out, "differences")


def test_moved_fusion_file_with_the_same_selection_is_noted_but_still_forbidden(tool, overlay, tmp_path):
    moved = tmp_path / "moved.yaml"
    moved.write_text(f"extends: {REPO_ROOT / 'configs/fusion/variants/bbu_rru_dense_1024.yaml'}\n", encoding="utf-8")
    right = overlay("right.yaml", f"custom:\n  fusion_config: {moved}\n")
    result = tool("diff", "--left", "configs/train/sft/dense_1024.yaml", "--right", right, "--profile", "parity")
    assert result.code == 1
    assert [line.split(":")[0] for line in section(result.out, "forbidden differences")] == ["custom.fusion_config"]
    assert "both resolve to the same fusion selection" in result.out


def test_diff_json_format(tool, overlay):
    left, right = _pair(
        overlay,
        "training:\n  run_name: old\n",
        "training:\n  run_name: new\n  learning_rate: 3.0e-4\n  save_total_limit: 1\n",
    )
    result = tool("diff", "--left", left, "--right", right, "--profile", "parity", "--format", "json")
    assert result.code == 1
    report = json.loads(result.out)
    by_path = {d["path"]: d for d in report["differences"]}
    assert by_path["training.learning_rate"] == {
        "path": "training.learning_rate", "change": "changed", "left": 2e-4, "right": 3e-4, "allowed": False,
    }
    assert by_path["training.save_total_limit"] == {
        "path": "training.save_total_limit", "change": "changed", "left": 3, "right": 1, "allowed": True,
        "reason": "checkpoint/eval scheduling",
    }
    assert report["summary"] == {"differences": 3, "allowed": 2, "forbidden": 1, "passed": False}
    assert report["left"]["chain"] == ["configs/base.yaml", "configs/train/sft/dense_1024.yaml", left.as_posix()]
    assert report["left"]["fusion_config"] == "configs/fusion/variants/bbu_rru_dense_1024.yaml"


def test_plain_diff_lists_everything_and_exits_0(tool):
    result = tool("diff", "--left", "configs/train/sft/dense_1024.yaml",
                  "--right", "configs/train/sft/dense_1024_gkd.yaml")
    assert result.code == 0
    lines = section(result.out, "differences")
    assert 'rlhf.rlhf_type: (absent) -> "gkd"' in lines
    assert lines == sorted(lines, key=lambda x: x.split(":")[0])
    assert "allowed" not in result.out and "forbidden" not in result.out


def test_same_diff_twice_is_byte_identical(tool):
    args = ("diff", "--left", "configs/train/grpo/dense_2048.yaml",
            "--right", "configs/train/grpo/dense_2048_lowaug.yaml", "--profile", "parity")
    first, second = tool(*args), tool(*args)
    assert first.code == second.code == 1
    assert first.out == second.out and first.out
    assert str(REPO_ROOT) not in first.out  # repo files are shown repo-relative


def test_invalid_side_fails_the_diff(tool, overlay):
    left = overlay("left.yaml", "training:\n  run_name: a\n")
    right = overlay("right.yaml", "training:\n  run_name: b\n  learning_rat: 1.0\n")
    result = tool("diff", "--left", left, "--right", right, "--profile", "parity")
    assert result.code == 1
    assert "is invalid" in result.out.splitlines()[-1]
    # no spurious differences from the length proxies, which only valid configs get
    assert section(result.out, "forbidden differences") == ["training.learning_rat: (absent) -> 1.0"]
    assert "training.learning_rat" in result.err


def test_config_package_alone_names_where_the_parity_profile_is(overlay, capsys):
    left, right = _pair(overlay, "training:\n  run_name: a\n", "training:\n  run_name: b\n")
    argv = ["diff", "--left", str(left), "--right", str(right)]
    assert config_cli.main([*argv, "--profile", "parity"], prog="python -m src.config.tools") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err and len(captured.err.strip().splitlines()) == 1
    assert "`diff --profile parity` moved out of the config package" in captured.err
    assert "python scripts/config_tools/inspect_config.py diff --profile parity" in captured.err
    assert config_cli.main(argv) == 0  # without the profile the config package diffs by itself
    assert 'training.run_name: "a" -> "b"' in capsys.readouterr().out


# ------------------------------------------------------------------------------- units


@pytest.mark.parametrize("key", sorted(PARITY_ALLOWLIST))
def test_allowlist_keys_are_allowed(key):
    assert parity_reason(key, augmentation_off_both=False)
    assert parity_reason(key + "[0]", augmentation_off_both=False)


@pytest.mark.parametrize("path", [
    "training.learning_rate", "training.output_dir_extra", "global_max_length", "model.model",
    "custom.fusion_config", "custom.use_summary", "rlhf.reward_funcs[0]", "fusion:targets[bbu_dense].ratio",
    "custom.augmentation.ops[0].prob", "custom.augmentation_curriculum",
])
def test_everything_else_is_forbidden(path):
    assert parity_reason(path, augmentation_off_both=False) is None


def test_augmentation_allowed_only_when_off_on_both_sides():
    for path in ("custom.augmentation.ops[1].prob", "custom.augmentation.bypass_prob",
                 "custom.augmentation_curriculum.phases[0].bypass_prob", "custom.augmentation_curriculum"):
        assert parity_reason(path, augmentation_off_both=True) == "augmentation disabled on both sides"
    assert parity_reason("custom.use_summary", augmentation_off_both=True) is None
    assert parity_reason("fusion:targets[a].augmentation", augmentation_off_both=True) is None
    assert augmentation_disabled({}) is True  # the schema default
    assert augmentation_disabled({"custom": {"augmentation": {"enabled": False}}}) is True
    assert augmentation_disabled({"custom": {"augmentation": {"enabled": True}}}) is False


def test_diff_trees_rules():
    left = {"a": 1, "b": True, "c": [1, 2, 3], "d": {"x": 1}, "n": None, "k": Keyed(e={"r": 1.0})}
    right = {"a": 1.0, "b": 1, "c": [1, 5], "e": {"y": {"z": 2}}, "n": {}, "k": Keyed(e={"r": 0.5})}
    assert diff_trees(left, right) == [
        Change("b", True, 1),
        Change("c[1]", 2, 5),
        Change("c[2]", 3, ABSENT),
        Change("d.x", 1, ABSENT),
        Change("e.y.z", ABSENT, 2),
        Change("k[e].r", 1.0, 0.5),
        Change("n", None, {}),
    ]
    assert diff_trees(left, left) == []
