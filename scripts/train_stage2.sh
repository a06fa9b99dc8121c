#!/usr/bin/env bash
# Launch a run whose rollouts come from a vLLM server: `swift rollout` on the server GPUs, bound to
# loopback, then the learners (scripts/train.sh -> torchrun) on the other GPUs of this node.
#
#   scripts/train_stage2.sh --config PATH --server-gpus 0,1 --train-gpus 2,3 [--port P]
#                           [--server-wait S] [--dry-run] [-- key.path=value ...]
#
# Preflight first (config valid and in server mode, GPU sets disjoint and non-empty, loopback host,
# free port, local model directory, unused run directory): any problem exits 2 with every reason and
# starts nothing. The server runs in its own process group and session (setsid); the script waits for
# /health/ and /get_world_size/, writes the server's launch flags to <training.output_dir>/
# rollout_server.json (exported as ROLLOUT_SERVER_INFO for the run manifest), starts the learners in
# a second process group, and on exit, Ctrl-C or SIGTERM stops exactly those two groups.
# Never passes --api_key (ms-swift 4.6.0's weight sync breaks with it). See docs/runbook_train_stage2.md.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/launch_common.sh
source "$REPO_ROOT/scripts/lib/launch_common.sh"

usage() {
  cat <<'EOF'
usage: scripts/train_stage2.sh --config PATH --server-gpus LIST --train-gpus LIST [--port PORT]
                               [--server-wait SECONDS] [--dry-run] [-- OVERRIDES...]

  --config PATH         a preset in vLLM server mode: stage2_ab with rollout_matching.backend: vllm
                        (vllm.mode: server), or GRPO/GKD with rlhf.vllm_mode: server
  --server-gpus LIST    GPU ids for `swift rollout`, e.g. 0,1 (tensor parallel from the config,
                        data parallel over the rest)
  --train-gpus LIST     GPU ids for the learners, e.g. 2,3 (disjoint from --server-gpus)
  --port PORT           server port on the loopback host (default: the config's first server port);
                        the learners are pointed at it through an override
  --server-wait S       seconds to wait for the server to become healthy (default: $SERVER_WAIT_S or 900)
  --dry-run             run the preflight, print both commands, start nothing, exit 0
  -- OVERRIDES          key.path=value overrides, applied to the server flags and the learners alike

Environment: PYTHON (interpreter), SWIFT_BIN (the swift CLI; default: next to PYTHON), TRAIN_SH (the
learner launcher; default scripts/train.sh), STOP_GRACE_S (seconds between SIGTERM and SIGKILL at
shutdown; default 30). Server log: <training.output_dir>/rollout_server.log.
EOF
}


CONFIG=""
SERVER_GPUS=""
TRAIN_GPUS=""
HAVE_SERVER_GPUS=0
HAVE_TRAIN_GPUS=0
PORT=""
SERVER_WAIT="${SERVER_WAIT_S:-900}"
STOP_GRACE="${STOP_GRACE_S:-30}"
DRY_RUN=0
OVERRIDES=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --config | --port | --server-wait)
      need_value "$@"
      case "$1" in
        --config) CONFIG="$2" ;;
        --port) PORT="$2" ;;
        --server-wait) SERVER_WAIT="$2" ;;
      esac
      shift 2
      ;;
    --server-gpus | --train-gpus)  # an empty list reaches the preflight, which explains it
      [[ $# -ge 2 && "$2" != --* ]] || die "$1 needs a value (see --help)"
      if [[ "$1" == --server-gpus ]]; then SERVER_GPUS="$2"; HAVE_SERVER_GPUS=1; else TRAIN_GPUS="$2"; HAVE_TRAIN_GPUS=1; fi
      shift 2
      ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) common_arg "$@"; shift "$SHIFT_BY" ;;
  esac
done

[[ -n "$CONFIG" ]] || die "--config is required (see --help)"
[[ "$HAVE_SERVER_GPUS" -eq 1 ]] || die "--server-gpus is required: the GPU ids for the rollout server, e.g. 0,1"
[[ "$HAVE_TRAIN_GPUS" -eq 1 ]] || die "--train-gpus is required: the GPU ids for the learners, e.g. 2,3"
[[ -z "$PORT" || "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$PORT'"
[[ "$SERVER_WAIT" =~ ^[0-9]+$ && "$SERVER_WAIT" -gt 0 ]] || die "--server-wait must be a positive number of seconds, got '$SERVER_WAIT'"
[[ "$STOP_GRACE" =~ ^[0-9]+$ ]] || die "STOP_GRACE_S must be a number of seconds, got '$STOP_GRACE'"
command -v setsid >/dev/null 2>&1 || die "setsid (util-linux) is required to give the server and learners their own process groups"

# ---------------------------------------------------------------- interpreter and config path
enter_repo
LEARNER_SH="${TRAIN_SH:-$REPO_ROOT/scripts/train.sh}"

# ---------------------------------------------------------------- preflight + plan (Python, no torch)
PLAN_ARGS=(plan --config "$CONFIG" --server-gpus "$SERVER_GPUS" --train-gpus "$TRAIN_GPUS")
if [[ -n "$PORT" ]]; then PLAN_ARGS+=(--port "$PORT"); fi
if [[ -n "${SWIFT_BIN:-}" ]]; then PLAN_ARGS+=(--swift "$SWIFT_BIN"); fi
if ! PLAN="$("$PYTHON" -m src.rollout.server.launch "${PLAN_ARGS[@]}" -- "${OVERRIDES[@]+"${OVERRIDES[@]}"}")"; then
  exit 2
fi
PLAN_KIND="" SERVER_HOST="" SERVER_PORT="" SERVER_URL="" OUTPUT_DIR="" SERVER_LOG="" SERVER_INFO=""
WORLD_SIZE="" RECORD_JSON="" PLAN_SUMMARY="" MODEL_DIR=""
SERVER_CMD=()
LEARNER_OVERRIDES=()
eval "$PLAN"  # shell assignments, every value quoted with shlex.quote

LEARNER_OPTS=(--config "$CONFIG" --gpus "$TRAIN_GPUS" --nnodes 1 --node-rank 0)
LEARNER_TAIL=(-- "${OVERRIDES[@]+"${OVERRIDES[@]}"}" "${LEARNER_OVERRIDES[@]}")

echo "train_stage2.sh: config $CONFIG (valid; $PLAN_KIND rollout server, vLLM server mode), model $MODEL_DIR"
echo "train_stage2.sh: $PLAN_SUMMARY"
show_command "server command" "CUDA_VISIBLE_DEVICES=$SERVER_GPUS" "${SERVER_CMD[@]}"

if [[ "$DRY_RUN" -eq 1 ]]; then
  if ! learner_out="$(ROLLOUT_SERVER_INFO="$SERVER_INFO" "$LEARNER_SH" "${LEARNER_OPTS[@]}" --print-command "${LEARNER_TAIL[@]}" 2>&1)"; then
    printf '%s\n' "$learner_out" >&2
    die "the learner launcher ($LEARNER_SH) refused the command above; nothing was started"
  fi
  learner_cmd="$(sed -n 's/^train\.sh: command: //p' <<<"$learner_out")"
  [[ -n "$learner_cmd" ]] || learner_cmd="$(printf '%q ' "$LEARNER_SH" "${LEARNER_OPTS[@]}" "${LEARNER_TAIL[@]}")"
  echo "train_stage2.sh: learner command: ROLLOUT_SERVER_INFO=$SERVER_INFO $learner_cmd"
  echo "train_stage2.sh: dry run: nothing was started"
  exit 0
fi

# ---------------------------------------------------------------- process groups and shutdown
SERVER_PID=""
LEARNER_PID=""

# shellcheck disable=SC2329  # invoked from the EXIT trap
stop_group() {  # pgid, name: SIGTERM the group, SIGKILL what is left after STOP_GRACE seconds
  local pgid="$1" name="$2" ticks=0
  [[ -n "$pgid" ]] || return 0
  kill -0 -- "-$pgid" 2>/dev/null || return 0
  echo "train_stage2.sh: stopping the $name (process group $pgid)" >&2
  kill -TERM -- "-$pgid" 2>/dev/null || true
  while kill -0 -- "-$pgid" 2>/dev/null && [[ "$ticks" -lt $((STOP_GRACE * 10)) ]]; do
    sleep 0.1
    ticks=$((ticks + 1))
  done
  if kill -0 -- "-$pgid" 2>/dev/null; then
    echo "train_stage2.sh: the $name did not stop within ${STOP_GRACE}s; sending SIGKILL" >&2
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
}

# shellcheck disable=SC2329  # the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_group "$LEARNER_PID" "learners"
  stop_group "$SERVER_PID" "rollout server"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- server
mkdir -p "$OUTPUT_DIR"
printf '\n===== %s train_stage2.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${SERVER_CMD[*]}" >>"$SERVER_LOG"
CUDA_VISIBLE_DEVICES="$SERVER_GPUS" setsid "${SERVER_CMD[@]}" >>"$SERVER_LOG" 2>&1 </dev/null &
SERVER_PID=$!
echo "train_stage2.sh: rollout server started (pid $SERVER_PID, own process group), log $SERVER_LOG"
echo "train_stage2.sh: waiting up to ${SERVER_WAIT}s for $SERVER_URL/health/ and /get_world_size/ (= $WORLD_SIZE)"
if ! "$PYTHON" -m src.rollout.server.launch wait --host "$SERVER_HOST" --port "$SERVER_PORT" \
    --pid "$SERVER_PID" --log "$SERVER_LOG" --timeout "$SERVER_WAIT" --world-size "$WORLD_SIZE"; then
  exit 1
fi
RECORD_JSON="$RECORD_JSON" "$PYTHON" -m src.rollout.server.launch record --out "$SERVER_INFO" --pid "$SERVER_PID"
export ROLLOUT_SERVER_INFO="$SERVER_INFO"
echo "train_stage2.sh: rollout server healthy; launch flags recorded in $SERVER_INFO"

# ---------------------------------------------------------------- learners
show_command "learner command" "ROLLOUT_SERVER_INFO=$SERVER_INFO" "$LEARNER_SH" "${LEARNER_OPTS[@]}" "${LEARNER_TAIL[@]}"
setsid "$LEARNER_SH" "${LEARNER_OPTS[@]}" "${LEARNER_TAIL[@]}" &
LEARNER_PID=$!

while kill -0 "$LEARNER_PID" 2>/dev/null; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "train_stage2.sh: error: the rollout server (pid $SERVER_PID) exited while the learners were running; last lines of $SERVER_LOG:" >&2
    tail -n 40 "$SERVER_LOG" >&2 || true
    exit 1
  fi
  # `wait` returns as soon as a trapped signal arrives; a foreground `sleep` would hold the INT/TERM
  # trap back until it ends (and bash may drop a SIGINT that the foreground child did not die from).
  sleep 1 &
  wait "$!" || true
done
rc=0
wait "$LEARNER_PID" || rc=$?
echo "train_stage2.sh: learners exited with status $rc; stopping the rollout server"
exit "$rc"
