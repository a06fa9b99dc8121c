#!/usr/bin/env python
"""Inspect, diff and validate resolved training configs; migrate the seed system's configs.

    python scripts/config_tools/inspect_config.py inspect --config configs/train/sft/dense_1024.yaml
    python scripts/config_tools/inspect_config.py inspect --config P --explain [key.path=value ...]
    python scripts/config_tools/inspect_config.py diff --left A --right B [--profile parity]
    python scripts/config_tools/inspect_config.py validate [PATH ...]
    python scripts/config_tools/inspect_config.py migrate --tree OLD/configs --out configs/migrated
    python scripts/config_tools/inspect_config.py parity-report --old OLD/configs --new configs/migrated

Exit codes: 0 ok / parity passed; 1 invalid config or forbidden differences; 2 usage error or a
config that cannot be loaded. Imports no torch, transformers or ms-swift. See docs/config_guide.md.
The logic lives in src/config/tools (inspect, diff, validate, plan) and src/seed_migration (migrate,
parity-report, the migration-aware parity diff).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from src.seed_migration.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="inspect_config.py"))
