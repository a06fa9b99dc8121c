# Shared by scripts/train.sh and scripts/train_stage2.sh (sourced, never run).
# The sourcing script sets REPO_ROOT first; PROG (its name, for messages) is the script's file name.

PROG="$(basename "$0")"

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

# Run from the repository root with PYTHON and CONFIG resolved (see the two functions above).
enter_repo() {
  resolve_python
  normalize_config_path
  cd "$REPO_ROOT"
}

# The arguments both launchers parse alike, after their own options: -h/--help (calls the script's
# usage), `--` (every later argument is an override), a bare key=value override, and anything else
# (an error). Sets SHIFT_BY: how many arguments the caller's loop shifts.
common_arg() {
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --) shift; OVERRIDES+=("$@"); SHIFT_BY=$(($# + 1)) ;;
    --*) die "unknown option $1 (see --help; overrides go after --)" ;;
    *=*) OVERRIDES+=("$1"); SHIFT_BY=1 ;;
    *) die "unexpected argument '$1' (overrides are key.path=value, after --)" ;;
  esac
}

# label, words...: "$PROG: label: words" on one line that can be pasted back into a shell.
show_command() {
  local label="$1" word
  shift
  printf '%s: %s:' "$PROG" "$label"
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then printf ' %s' "$word"; else printf ' %q' "$word"; fi
  done
  printf '\n'
}
