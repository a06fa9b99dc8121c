"""Counts how often this process loads fusion configs: `load_fusion_config` calls and YAML file reads.

`install()` wraps `src.config.fusion.load_fusion_config` and `src.config.yaml_io.load_yaml_file` where
they are defined *and* in every already imported `src` module that bound them by name (`from .fusion
import load_fusion_config`); modules imported later bind the wrappers from there. So a consumer that
re-loads the fusion file is counted however it imported the loader, and a re-read that bypasses
`load_fusion_config` still shows as a second YAML read of the file.

As a script it counts one training run, in the run's own process:
`python tests/config/fusion_load_counter.py COUNTS.json --config PRESET [key=value ...]` runs
`src.sft.main` with the counters installed and writes the counts to COUNTS.json.
"""

from __future__ import annotations

import functools
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LoadCounts:
    fusion_loads: list[str] = field(default_factory=list)  # display path of each load_fusion_config call
    yaml_reads: Counter[str] = field(default_factory=Counter)  # display path -> reads

    def as_json(self) -> dict[str, Any]:
        return {"fusion_loads": self.fusion_loads, "yaml_reads": dict(self.yaml_reads)}


def _rebind(original: Any, wrapper: Any, set_attr: Callable[[Any, str, Any], None]) -> None:
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "src" or name.startswith("src.")):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                set_attr(module, attr, wrapper)


def install(set_attr: Callable[[Any, str, Any], None] = setattr) -> LoadCounts:
    """Start counting; `set_attr` is `monkeypatch.setattr` in-process (undone after the test)."""
    import src.config  # noqa: F401  (every src.config module the loaders live in, bound before the sweep)
    from src.config import fusion, yaml_io
    from src.config.paths import display_path

    counts = LoadCounts()
    load_fusion, load_yaml = fusion.load_fusion_config, yaml_io.load_yaml_file

    @functools.wraps(load_fusion)
    def counted_fusion(path: Any) -> Any:
        counts.fusion_loads.append(display_path(Path(path)))
        return load_fusion(path)

    @functools.wraps(load_yaml)
    def counted_yaml(path: Path) -> Any:
        counts.yaml_reads[display_path(path)] += 1
        return load_yaml(path)

    _rebind(load_fusion, counted_fusion, set_attr)
    _rebind(load_yaml, counted_yaml, set_attr)
    return counts


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    out = Path(sys.argv[1])
    counts = install()
    from src.sft import main

    try:
        rc = main(sys.argv[2:])
    finally:
        out.write_text(json.dumps(counts.as_json(), indent=2), encoding="utf-8")
    sys.exit(rc)
