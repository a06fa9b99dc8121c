#!/usr/bin/env python
"""Inspect, diff and validate resolved training configs (the logic lives in src/config/tools).

    python scripts/config_tools/inspect_config.py inspect --config configs/train/sft/dense_1024.yaml
    python scripts/config_tools/inspect_config.py inspect --config P --explain [key.path=value ...]
    python scripts/config_tools/inspect_config.py diff --left A --right B [--profile parity]
    python scripts/config_tools/inspect_config.py validate [PATH ...]

Exit codes: 0 ok / parity passed; 1 invalid config or forbidden differences; 2 usage error or a
config that cannot be loaded. Imports no torch, transformers or ms-swift. See docs/config_guide.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from src.config.tools.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="inspect_config.py"))
