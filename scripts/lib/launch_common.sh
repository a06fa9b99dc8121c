# Shared by scripts/train.sh and scripts/train_stage2.sh (sourced, never run).
# The sourcing script sets PROG (its name, for messages) and REPO_ROOT first.

die() {
  echo "$PROG: error: $*" >&2
  exit 2
}

need_value() {
  [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || die "$1 needs a value (see --help)"
}

# PYTHON: as given, else the active venv's python, else the repository's .venv, else python3.
resolve_python() {
  if [[ -z "${PYTHON:-}" ]]; then
    if [[ -n "${VIRTUAL_ENV:-}" ]] && command -v python >/dev/null 2>&1; then
      PYTHON="python"
    elif [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
      PYTHON="$REPO_ROOT/.venv/bin/python"
    else
      PYTHON="python3"
    fi
  fi
}

# CONFIG: a path relative to the working directory becomes absolute, then repository paths are
# shown relative to the root; the caller then runs from REPO_ROOT.
normalize_config_path() {
  if [[ -f "$CONFIG" ]]; then
    CONFIG="$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")"
  fi
  CONFIG="${CONFIG#"$REPO_ROOT"/}"
}
