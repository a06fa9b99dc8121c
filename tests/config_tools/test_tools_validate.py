"""`validate`: the whole configs/ tree passes (part of the suite), bad files fail with the right code."""

from __future__ import annotations

from config_tools_helpers import VALIDATE_SCRIPT, run_script

from src.config.paths import REPO_ROOT


def _configs() -> list[str]:
    return sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "configs").rglob("*.yaml"))


def test_validate_whole_tree_passes(tool):
    result = tool("validate")
    configs = _configs()
    assert result.code == 0, result.out
    lines = result.out.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == configs  # one line per file, sorted
    assert all(line.startswith("ok ") for line in lines[:-1])
    assert lines[-1] == f"{len(configs)} configs checked: {len(configs)} ok, 0 invalid, 0 cannot be loaded"
    by_name = {line.split()[1]: line for line in lines[:-1]}
    assert "(layer, 1 file)" in by_name["configs/base.yaml"]
    assert "(sft, runnable preset, 2 files)" in by_name["configs/train/sft/dense_1024.yaml"]
    assert "fusion config" in by_name["configs/fusion/variants/bbu_rru_dense_1024.yaml"]


def test_validate_a_folder_and_files(tool):
    result = tool("validate", "configs/smoke", "configs/train/sft/dense_1024.yaml")
    assert result.code == 0
    assert len(result.out.splitlines()) == len([c for c in _configs() if c.startswith("configs/smoke/")]) + 2


def test_overrides_apply_as_on_the_launch_command_line(tool):
    """`--set` is what scripts/train.sh validates with before it launches (the run's own overrides)."""
    assert tool("validate", "configs/debug.yaml", "--set", "training.learning_rate=1e-5").code == 0
    bad = tool("validate", "configs/debug.yaml", "--set", "training.learning_rat=1e-5")
    assert bad.code == 1 and "training.learning_rat" in bad.out and "learning_rate" in bad.out


def test_invalid_file_exits_1_with_its_problems(tool, overlay):
    bad = overlay("bad.yaml", "training:\n  learning_rate: fast\n")
    result = tool("validate", "configs/train/sft/dense_1024.yaml", bad)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith("ok ") and lines[1].startswith(f"INVALID  {bad.as_posix()}")
    assert "training.learning_rate" in result.out and f"{bad.as_posix()}:3" in result.out
    assert lines[-1] == "2 configs checked: 1 ok, 1 invalid, 0 cannot be loaded"


def test_unloadable_file_exits_2(tool, tmp_path, overlay):
    broken = tmp_path / "broken.yaml"
    broken.write_text("training:\n  learning_rate: [1,\n", encoding="utf-8")
    bad = overlay("bad.yaml", "training:\n  learning_rate: fast\n")
    result = tool("validate", broken, bad, tmp_path / "missing.yaml")
    assert result.code == 2
    assert [line.split()[0] for line in result.out.splitlines() if line and not line.startswith(" ")][:3] == [
        "ERROR", "INVALID", "ERROR"]
    assert "invalid YAML" in result.out and "config file not found" in result.out
    assert "Traceback" not in result.out + result.err


def test_validate_sft_config_script_is_the_short_entry():
    proc = run_script(script=VALIDATE_SCRIPT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].endswith("0 invalid, 0 cannot be loaded")
    assert "\x1b[" not in proc.stdout  # plain text when not a terminal


def test_deep_check_that_cannot_run_is_an_error_not_a_pass(monkeypatch):
    """`--deep` builds presets in a child process; if it dies, each preset it was to build is an error (exit 2)
    with the child's last lines, never reported as checked."""
    import subprocess

    from src.config.tools import validation

    def dead_child(cmd, **kwargs):
        assert cmd[1:3] == ["-m", "src.boundary.deep_check"]
        return subprocess.CompletedProcess(cmd, 1, "", "ImportError: swift is broken here")

    monkeypatch.setattr(validation.subprocess, "run", dead_child)
    results = validation.validate_paths([REPO_ROOT / "configs/debug.yaml", REPO_ROOT / "configs/base.yaml"], deep=True)
    assert results[0].status == "error" and "did not run (--deep)" in results[0].summary
    assert "exited with 1" in results[0].detail and "swift is broken here" in results[0].detail
    assert results[1].status == "ok"  # a layer is not built
    assert validation.exit_code(results) == 2


def test_a_mistyped_fusion_jsonl_is_reported_with_its_file_line_and_a_close_name(tool, tmp_path):
    """`validate` stays fast and torch-free: existence only. A path whose folder exists (or has a close name) is a
    warning naming the fusion file:line; data absent from this machine altogether (configs/train/* on a laptop)
    is left to `train.sh --dry-run` and the run's pre-flight."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("")
    fusion = tmp_path / "fusion.yaml"
    fusion.write_text(f"targets:\n  - name: coco\n    train_jsonl: {tmp_path}/data/trian.jsonl\n"
                      f"    val_jsonl: {tmp_path}/dat/val.jsonl\n")
    for args in ((fusion,), (REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml", "--set", f"custom.fusion_config={fusion}")):
        result = tool("validate", *args)
        assert result.code == 0, result.out
        assert f"warning: data not found: coco.train_jsonl ({fusion.as_posix()}:3)" in result.out
        assert "trian.jsonl does not exist. Did you mean" in result.out and "/data/train.jsonl?" in result.out
        assert f"coco.val_jsonl ({fusion.as_posix()}:4)" in result.out and "/data/val.jsonl?" in result.out
