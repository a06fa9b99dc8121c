"""`inspect_config.py plan --config P [--json] [--worst N] [key.path=value ...]`: the token-budget plan.

The plan tokenizes every record with the run's tokenizer and template, which this torch-free package must
not import: it runs `python -m src.datasets.plan` as a child process with the same arguments, its output
and exit code passed through (0 every record fits, 1 some are over the budget, 2 an error).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from ..errors import ConfigError
from ..paths import REPO_ROOT, locate_config_file
from .loading import LoadError


def run_plan(config: str, overrides: Sequence[str], as_json: bool, worst: int) -> int:
    path = locate_config_file(config)
    if not path.is_file():
        raise LoadError(ConfigError([f"no such config file: {config}"]), config)
    cmd = [sys.executable, "-m", "src.datasets.plan", "--config", str(path), "--worst", str(worst),
           *(["--json"] if as_json else []), *overrides]
    sys.stdout.flush()
    return subprocess.call(cmd, cwd=REPO_ROOT)
