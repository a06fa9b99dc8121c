"""Repository root and repo-relative path handling.

Paths written in training and fusion configs are relative to the repository root (the
directory holding `pyproject.toml`), never to the working directory. The resolved config
keeps them as written (so two machines resolve byte-identical configs); they become absolute
only where they are handed to code that opens files (`swift_args`, config accessors).
"""

from __future__ import annotations

from pathlib import Path


def _find_repo_root(start: Path) -> Path:
    for candidate in (start, *start.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    raise RuntimeError(f"no pyproject.toml above {start}: cannot locate the repository root")


REPO_ROOT: Path = _find_repo_root(Path(__file__).resolve().parent)


def resolve_repo_path(path: str | Path) -> Path:
    """An absolute path: `path` itself when absolute, else `REPO_ROOT / path` (normalized)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    return (REPO_ROOT / p).resolve(strict=False)


def display_path(path: str | Path) -> str:
    """Repo-relative POSIX form for paths inside the repository, absolute POSIX form otherwise."""
    p = Path(path).resolve(strict=False)
    try:
        return p.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return p.as_posix()


def locate_config_file(path: str | Path) -> Path:
    """Find a config file named on a command line: as given (relative to the working directory),
    else relative to the repository root. Returns the resolved path (which may not exist)."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve(strict=False)
    return resolve_repo_path(p)
