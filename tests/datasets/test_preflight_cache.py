"""The pre-flight cache: a changed file or setting is a new fingerprint; corrupt entries are recomputed."""

import os

from src.datasets import preflight_cache as pc


def test_fingerprint_follows_files_and_settings(tmp_path, monkeypatch):
    monkeypatch.setenv(pc.CACHE_ENV, str(tmp_path / "cache"))
    data = tmp_path / "a.jsonl"
    data.write_text('{"x": 1}\n')
    key = pc.fingerprint("plan", [data], {"max_length": 1024})
    assert key == pc.fingerprint("plan", [data], {"max_length": 1024})
    assert key != pc.fingerprint("plan", [data], {"max_length": 2048})
    assert key != pc.fingerprint("scan", [data], {"max_length": 1024})
    data.write_text('{"x": 1}\n{"x": 2}\n')
    assert key != pc.fingerprint("plan", [data], {"max_length": 1024})


def test_store_load_and_corrupt_entry(tmp_path, monkeypatch):
    monkeypatch.setenv(pc.CACHE_ENV, str(tmp_path / "cache"))
    assert pc.load("plan", "k") is None
    pc.store("plan", "k", {"records": [1, 2]})
    assert pc.load("plan", "k") == {"records": [1, 2]}
    (tmp_path / "cache" / "plan" / "k.json").write_text("{half")
    assert pc.load("plan", "k") is None
    assert not [n for n in os.listdir(tmp_path / "cache" / "plan") if n.endswith(".tmp")]
