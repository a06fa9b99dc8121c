"""One real smoke SFT shared by the provenance tests (a session fixture)."""

from __future__ import annotations

import subprocess
import time

import pytest
from provenance_helpers import Run, command, git, git_dirty, run_env


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, repo_root, tiny_model_dir, synthetic_data_dir) -> Run:
    """An uninterrupted smoke run (the manifest under test, and the losses a resumed run must match)."""
    out = tmp_path_factory.mktemp("provenance") / "reference"
    head_before, dirty_before = git(repo_root, "rev-parse", "HEAD").strip(), git_dirty(repo_root)
    start = time.monotonic()
    proc = subprocess.run(command(out), cwd=repo_root, env=run_env(), capture_output=True, text=True,
                          timeout=900, check=False)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    head_after, dirty_after = git(repo_root, "rev-parse", "HEAD").strip(), git_dirty(repo_root)
    return Run(out, proc, seconds, head_before, head_after, dirty_before, dirty_after)
