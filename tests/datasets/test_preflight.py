"""The records pre-flight of `python -m src.sft`: every JSONL, record and image of the run, before the model loads.

Each fault stops `main()` with exit 2 and `file:line` in a one-paragraph message (no traceback: an uncaught
exception would fail the test) before anything heavy is imported; the result is cached by fingerprint.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.faulty_images import FAULTS, MODES, SIZE, good_png, record, write_dataset

from src.config import load_training_config
from src.config.paths import REPO_ROOT
from src.datasets import preflight_cache
from src.datasets.preflight import PreflightError, records_preflight
from src.sft import main

SMOKE = "configs/smoke/sft_dense_tiny.yaml"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv(preflight_cache.CACHE_ENV, str(tmp_path / "cache"))


def _sft(fusion, capsys, *overrides) -> tuple[int, str]:
    code = main(["--config", SMOKE, f"custom.fusion_config={fusion}",
                 f"training.output_dir={fusion.parent / 'run'}", *overrides])
    assert not (fusion.parent / "run").exists()  # stopped before the run directory, so before the model
    return code, capsys.readouterr().err


def _stops_before_the_model(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_image_fault_stops_the_run_at_the_scan(tmp_path, capsys, fault):
    name, data, size, phrase = FAULTS[fault]
    # line 1 is a good image, line 2 the faulty one
    fusion = write_dataset(tmp_path, [("fine.png", good_png(), SIZE), (name, data(), size)])
    code, err = _sft(fusion, capsys)
    _stops_before_the_model(code, err)
    assert f"{tmp_path / 'train.jsonl'}:2: image images/{name}" in err
    assert phrase in err and ":1:" not in err
    assert "before the model loaded" in err


def test_exif_fault_says_what_it_means_and_the_fix(tmp_path, capsys):
    name, data, size, _ = FAULTS["exif_displayed_size"]
    code, err = _sft(write_dataset(tmp_path, [(name, data(), size)]), capsys)
    assert code == 2
    assert "stored pixels are what is trained on" in err and "exif_transpose" in err


def test_missing_image_unknown_key_and_bad_val_record_all_listed(tmp_path, capsys):
    fusion = write_dataset(tmp_path, [("fine.png", good_png(), SIZE)],
                           extra_lines=[record("images/gone.png", SIZE), record("images/fine.png", SIZE, split="a")])
    (tmp_path / "val.jsonl").write_text('{"images": ["images/ok.png"], "width": 200}\n')
    code, err = _sft(fusion, capsys)
    _stops_before_the_model(code, err)
    train = tmp_path / "train.jsonl"
    assert f"{train}:2: image images/gone.png: not found" in err and "fix the path in the record" in err
    assert f"{train}:3: unknown record key 'split'" in err
    assert f"{tmp_path / 'val.jsonl'}:1: missing required key 'height'" in err


def test_missing_fusion_jsonl_names_the_fusion_line_and_a_close_name(tmp_path, capsys):
    fusion = write_dataset(tmp_path, [("fine.png", good_png(), SIZE)])
    fusion.write_text(fusion.read_text().replace("train.jsonl", "trian.jsonl"))
    code, err = _sft(fusion, capsys)
    _stops_before_the_model(code, err)
    assert f"faulty.train_jsonl ({fusion.name}:3)" in err or f"faulty.train_jsonl ({fusion}:3)" in err
    assert "trian.jsonl does not exist" in err and "Did you mean" in err and "train.jsonl?" in err


def test_scan_switched_off_leaves_images_to_the_loader_but_still_checks_records(tmp_path):
    name, data, size, _ = FAULTS["wrong_size"]
    fusion = write_dataset(tmp_path, [(name, data(), size)])
    off = [f"custom.fusion_config={fusion}", "custom.preflight.image_scan=false"]
    assert records_preflight(load_training_config(SMOKE, off)).images == 0
    with pytest.raises(PreflightError, match="is 200x150"):
        records_preflight(load_training_config(SMOKE, off[:1]))
    (tmp_path / "train.jsonl").write_text(json.dumps(record(f"images/{name}", size, note=1)) + "\n")
    with pytest.raises(PreflightError, match="unknown record key 'note'"):
        records_preflight(load_training_config(SMOKE, off))


def test_a_clean_result_is_cached_until_a_jsonl_changes(tmp_path):
    fusion = write_dataset(tmp_path, [(f"{m}{n}", d(), SIZE) for m, (n, d) in MODES.items()])
    cfg = load_training_config(SMOKE, [f"custom.fusion_config={fusion}"])
    first = records_preflight(cfg)
    assert (first.records, first.images, first.cached) == (len(MODES) + 1, len(MODES) + 1, False)
    again = records_preflight(cfg)
    assert again.cached and again.records == first.records
    (tmp_path / "images" / "gone.png").unlink(missing_ok=True)
    (tmp_path / "train.jsonl").write_text((tmp_path / "train.jsonl").read_text()
                                          + json.dumps(record("images/gone.png", SIZE)) + "\n")
    with pytest.raises(PreflightError, match=r"train\.jsonl:7: image images/gone\.png: not found"):
        records_preflight(cfg)  # a changed file: scanned again, never the stale result


def test_exif_orientation_on_a_matching_image_is_a_warning(tmp_path, caplog):
    _, data, _, _ = FAULTS["exif_displayed_size"]
    fusion = write_dataset(tmp_path, [("phone.jpg", data(), SIZE)])  # the record gives the stored size
    result = records_preflight(load_training_config(SMOKE, [f"custom.fusion_config={fusion}"]))
    assert len(result.warnings) == 1 and "train.jsonl:1: image images/phone.jpg has EXIF orientation 6" \
        in result.warnings[0]
    assert "EXIF orientation 6" in caplog.text


def test_exit_2_and_no_traceback_from_the_command_line(tmp_path):
    name, data, size, _ = FAULTS["text_named_png"]
    fusion = write_dataset(tmp_path, [(name, data(), size)])
    proc = subprocess.run([sys.executable, "-m", "src.sft", "--config", SMOKE, f"custom.fusion_config={fusion}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
                          env={**__import__("os").environ, preflight_cache.CACHE_ENV: str(tmp_path / "cache")})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{tmp_path / 'train.jsonl'}:1: image images/{name}: not a readable image file" in proc.stderr


def test_only_the_records_the_run_reads_are_checked(tmp_path):
    """custom.train_sample_limit: the run reads the first N records, so a bad record after them is not its fault."""
    fusion = write_dataset(tmp_path, [("fine.png", good_png(), SIZE)] * 2,
                           extra_lines=[record("images/fine.png", SIZE, split="a")])
    overrides = [f"custom.fusion_config={fusion}"]
    assert records_preflight(load_training_config(SMOKE, [*overrides, "custom.train_sample_limit=2"])).records == 3
    with pytest.raises(PreflightError, match=r"train\.jsonl:3: unknown record key 'split'"):
        records_preflight(load_training_config(SMOKE, overrides))
