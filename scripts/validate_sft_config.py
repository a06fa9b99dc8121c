#!/usr/bin/env python
"""Validate training and fusion configs: `inspect_config.py validate` under a short name.

    python scripts/validate_sft_config.py                 # every YAML file under configs/
    python scripts/validate_sft_config.py configs/train/sft/dense_1024.yaml configs/smoke/

One line per file and a summary. Exit 0 when all are valid, 1 when one fails validation, 2 when
one cannot be loaded (missing, YAML syntax error, extends cycle).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.config.tools.cli import main

if __name__ == "__main__":
    sys.exit(main(["validate", *sys.argv[1:]], prog="validate_sft_config.py"))
