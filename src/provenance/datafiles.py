"""Fingerprints of the JSONL files a fusion config selects: size, sha256 and record count.

Records are counted with the data pipeline's rule (`src/datasets/jsonl_index.py`): every line is
a record except blank ones (empty, or a lone `\\r`). Images referenced by the records are not
hashed (there can be millions); the JSONL hash covers their paths and annotations.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from src.config import FusionConfig, display_path


def fingerprint_jsonl(path: str | Path) -> dict[str, Any]:
    """`{size, sha256, records}` of one JSONL file, in one streaming pass."""
    digest = hashlib.sha256()
    size = records = 0
    with open(path, "rb") as f:
        for line in f:
            digest.update(line)
            size += len(line)
            body = line[:-1] if line.endswith(b"\n") else line
            if body not in (b"", b"\r"):
                records += 1
    return {"size": size, "sha256": digest.hexdigest(), "records": records}


def dataset_files(fusion: FusionConfig) -> list[dict[str, Any]]:
    """One entry per (dataset, split) file of the fusion config: targets then sources, train then val."""
    files: list[dict[str, Any]] = []
    for role, entries in (("target", fusion.targets), ("source", fusion.sources)):
        for entry in entries:
            for split, written, path in (("train", entry.train_jsonl, entry.train_path),
                                         ("val", entry.val_jsonl, entry.val_path)):
                if written is None or path is None:
                    continue
                row: dict[str, Any] = {"dataset": entry.name, "role": role, "split": split,
                                       "path": written, "resolved_path": display_path(path)}
                if path.is_file():
                    row.update(fingerprint_jsonl(path))
                else:
                    row.update({"size": None, "sha256": None, "records": None, "error": "file not found"})
                files.append(row)
    return files
