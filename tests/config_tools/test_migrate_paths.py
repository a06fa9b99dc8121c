"""A whole seed tree migrated to a folder outside the repository (`--out` anywhere): the paths the seed
wrote relative to its repository root point at the migrated files (or back into the seed), never into
our own configs/, and every runnable preset validates or the report says why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_migrate import REFERENCE, needs_reference

from src.config.paths import REPO_ROOT, resolve_repo_path
from src.config.tools import cli as config_cli
from src.config.tools.loading import load_config
from src.seed_migration.cli import main

OURS = (REPO_ROOT / "configs").resolve()


def _migrate(tree: Path, out: Path, capsys) -> tuple[str, str]:
    capsys.readouterr()
    assert main(["migrate", "--tree", str(tree), "--out", str(out), "--color", "never"]) == 1  # seed gaps remain
    return (out / "MIGRATION_REPORT.md").read_text(encoding="utf-8"), capsys.readouterr().out


def _named_paths(out: Path) -> list[tuple[Path, str, Path]]:
    """(migrated file, what, resolved path) of every file a migrated config names."""
    found = []
    for path in sorted(out.rglob("*.yaml")):
        loaded = load_config(path)
        found += [(path, "extends", resolve_repo_path(link)) for link in loaded.chain]
        if loaded.kind == "training" and loaded.resolved is not None:
            fusion = loaded.resolved.get("custom.fusion_config", None)
            found += [(path, "custom.fusion_config", resolve_repo_path(fusion))] if fusion else []
        for line in path.read_text(encoding="utf-8").splitlines():
            key, _, value = line.strip().partition(":")
            if key in ("train_jsonl", "val_jsonl") and value.strip() not in ("", "null"):
                found.append((path, key, resolve_repo_path(value.strip())))
    return found


@needs_reference
def test_whole_seed_tree_outside_the_repo(tmp_path, capsys):
    out = tmp_path / "elsewhere" / "migrated"
    report, summary = _migrate(REFERENCE, out, capsys)
    presets = sorted(p for d in ("train", "smoke") if (out / d).is_dir() for p in (out / d).rglob("*.yaml"))
    assert len(presets) == 5
    for preset in presets:
        loaded = load_config(preset)
        row = next(line for line in report.splitlines() if line.startswith(f"| `{preset.as_posix()}` |"))
        if loaded.valid:
            assert "| yes |" in row
        else:  # the reason is in the report (the fusion variants whose JSONL paths the seed cleared)
            assert "| no |" in row and loaded.problems[0].render().replace("|", "/") in row
    valid = sum(load_config(p).valid for p in presets)
    assert f"{valid} of 5 migrated runnable presets validate" in report and f"{valid} of 5" in summary
    named = _named_paths(out)
    fusion = [(f, p) for f, what, p in named if what == "custom.fusion_config"]
    assert len(fusion) == 5 and all(p.is_relative_to(out.resolve()) and p.is_file() for _, p in fusion)
    seed_repo = REFERENCE.resolve().parent
    for file, what, path in named:
        assert not path.is_relative_to(OURS), (file, what, path)
        if what != "extends" and what != "custom.fusion_config":  # data stays with the seed
            assert path.is_relative_to(seed_repo), (file, what, path)
    assert "## Paths" in report and " to files of this migration" in report


@needs_reference
def test_renamed_copy_and_subtree(tmp_path, capsys):
    copy = tmp_path / "seed_copy"  # the configs folder under another name: `configs/...` paths still found
    shutil.copytree(REFERENCE, copy)
    _migrate(copy, tmp_path / "a", capsys)
    dense = load_config(tmp_path / "a/train/sft/dense_1024.yaml").resolved.get("custom.fusion_config")
    assert Path(dense) == (tmp_path / "a/fusion/variants/bbu_rru_dense_plus_summary_1024.yaml").resolve()
    # train/ alone: the fusion configs and base.yaml were not migrated: the seed's own files, reported
    report, _ = _migrate(REFERENCE / "train", tmp_path / "b", capsys)
    loaded = load_config(tmp_path / "b/sft/dense_1024.yaml")
    assert Path(loaded.chain[0]) == (REFERENCE / "base.yaml").resolve()
    assert Path(loaded.resolved.get("custom.fusion_config")).is_relative_to(REFERENCE.resolve())
    assert "which this migration did not include (seed format)" in report
    assert not loaded.valid  # the seed-format fusion config, named in the report


def test_config_tools_name_where_migrate_moved(capsys):
    assert config_cli.main(["migrate", "--tree", "x", "--out", "y"], prog="python -m src.config.tools") == 2
    err = capsys.readouterr().err
    assert "inspect_config.py migrate" in err and "python -m src.seed_migration migrate" in err
    assert config_cli.main(["parity-report", "--old", "a", "--new", "b"]) == 2
    assert "moved out of the config package" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["migrate", "--help"], ["inspect", "--help"]])
def test_inspect_config_keeps_every_command(argv, capsys):
    assert main(argv) == 0


def test_a_migrated_file_is_named_repo_relative_inside_the_repo_absolute_elsewhere(tmp_path):
    from src.seed_migration.seed_paths import reference

    assert reference(REPO_ROOT / "configs" / "migrated" / "fusion" / "f.yaml") == "configs/migrated/fusion/f.yaml"
    assert reference(tmp_path / "f.yaml") == str((tmp_path / "f.yaml").resolve())
