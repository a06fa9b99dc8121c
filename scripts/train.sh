#!/usr/bin/env bash
# Launch a training run: `python -m src.sft` on one GPU (or CPU), torchrun on several GPUs or nodes.
#
#   scripts/train.sh --config PATH [--gpus 0,1,...] [--nnodes N --node-rank R --master-addr A
#                    --master-port P] [--dry-run] [-- key.path=value ...]
#
# The config is validated first (python -m src.config.tools validate), so a config mistake stops here;
# --dry-run also checks GPUs, packages, model weights and data (python -m src.launch_check).
# DeepSpeed (ZeRO-2/3) comes from the config's `deepspeed` section: nothing to pass here.
# See docs/runbook_train.md.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/launch_common.sh
source "$REPO_ROOT/scripts/lib/launch_common.sh"

usage() {
  cat <<'EOF'
usage: scripts/train.sh [--config PATH] [--gpus LIST|none] [--nnodes N] [--node-rank R]
                        [--master-addr ADDR] [--master-port PORT] [--dry-run | --print-command]
                        [-- OVERRIDES...]

  --config PATH       training preset (default: configs/debug.yaml); relative to the working
                      directory or to the repository root
  --gpus LIST         GPU ids for this node, e.g. 0,1,2,3; `none` runs on CPU.
                      Default: $GPUS, else $CUDA_VISIBLE_DEVICES, else every GPU nvidia-smi lists.
                      One GPU (or none) runs python; several run torchrun, one process per GPU.
  --nnodes N          number of nodes (default: $NNODES or 1); N > 1 always uses torchrun
  --node-rank R       this node's rank, 0..N-1 (default: $NODE_RANK or 0)
  --master-addr ADDR  address of node 0 (default: $MASTER_ADDR; required when N > 1)
  --master-port PORT  rendezvous port (default: $MASTER_PORT; else 29500 for several nodes, or a
                      free local port for one node)
  --dry-run           validate the config, check what the launch needs (GPUs for --gpus, DeepSpeed/vLLM,
                      model weights, every JSONL record and image: python -m src.launch_check), print the
                      command, and exit without running it: 0 when all is present, 2 listing every
                      missing thing
  --print-command     validate the config and print the command only (no launch checks; what
                      scripts/train_stage2.sh uses to build its learner command)
  -- OVERRIDES        key.path=value overrides for python -m src.sft (bare key=value works too)

Environment: PYTHON (interpreter; default: the active venv's python, else .venv/bin/python).
EOF
}


CONFIG="configs/debug.yaml"
GPUS="${GPUS:-}"
NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"
MASTER_ADDR="${MASTER_ADDR:-}"
MASTER_PORT="${MASTER_PORT:-}"
DRY_RUN=0
LAUNCH_CHECK=1
OVERRIDES=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --config | --gpus | --nnodes | --node-rank | --master-addr | --master-port)
      need_value "$@"
      case "$1" in
        --config) CONFIG="$2" ;;
        --gpus) GPUS="$2" ;;
        --nnodes) NNODES="$2" ;;
        --node-rank) NODE_RANK="$2" ;;
        --master-addr) MASTER_ADDR="$2" ;;
        --master-port) MASTER_PORT="$2" ;;
      esac
      shift 2
      ;;
    --dry-run) DRY_RUN=1; shift ;;
    --print-command) DRY_RUN=1; LAUNCH_CHECK=0; shift ;;
    *) common_arg "$@"; shift "$SHIFT_BY" ;;
  esac
done

# ---------------------------------------------------------------- interpreter and config path
enter_repo

# ---------------------------------------------------------------- topology
[[ "$NNODES" =~ ^[1-9][0-9]*$ ]] || die "--nnodes must be a positive integer, got '$NNODES'"
[[ "$NODE_RANK" =~ ^[0-9]+$ && "$NODE_RANK" -lt "$NNODES" ]] \
  || die "--node-rank must be in 0..$((NNODES - 1)), got '$NODE_RANK'"
[[ -z "$MASTER_PORT" || "$MASTER_PORT" =~ ^[0-9]+$ ]] || die "--master-port must be a number, got '$MASTER_PORT'"

if [[ -z "$GPUS" ]]; then
  if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
    GPUS="$CUDA_VISIBLE_DEVICES"
  elif command -v nvidia-smi >/dev/null 2>&1; then
    n_gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
    if [[ "$n_gpus" -gt 0 ]]; then
      GPUS="$(seq -s, 0 $((n_gpus - 1)))"
    fi
  fi
fi
[[ "$GPUS" == "cpu" ]] && GPUS="none"
if [[ -n "$GPUS" && "$GPUS" != "none" ]]; then
  [[ "$GPUS" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--gpus must be a comma-separated list of ids like 0,1,2,3, got '$GPUS'"
  IFS=, read -r -a gpu_list <<<"$GPUS"
  NPROC="${#gpu_list[@]}"
else
  NPROC=1
fi

if [[ "$NNODES" -gt 1 ]]; then
  [[ -n "$MASTER_ADDR" ]] || die "--nnodes $NNODES needs --master-addr (or MASTER_ADDR): the address of node 0"
  [[ "$GPUS" != "none" && -n "$GPUS" ]] || die "multi-node training needs GPUs on every node (--gpus)"
  MASTER_PORT="${MASTER_PORT:-29500}"  # must be the same on every node: never picked at random
fi

# ---------------------------------------------------------------- validate the config
SET_ARGS=()
for override in "${OVERRIDES[@]+"${OVERRIDES[@]}"}"; do
  SET_ARGS+=(--set "$override")
done
if ! "$PYTHON" -m src.config.tools validate "$CONFIG" "${SET_ARGS[@]+"${SET_ARGS[@]}"}" --color never >&2; then
  echo "train.sh: the config does not validate; nothing was launched" >&2
  exit 2
fi

# ---------------------------------------------------------------- command
ENTRY=(-m src.sft --config "$CONFIG" "${OVERRIDES[@]+"${OVERRIDES[@]}"}")
ENV_ASSIGN=()
if [[ "$GPUS" == "none" ]]; then
  ENV_ASSIGN+=("CUDA_VISIBLE_DEVICES=")
elif [[ -n "$GPUS" ]]; then
  ENV_ASSIGN+=("CUDA_VISIBLE_DEVICES=$GPUS")
fi

if [[ "$NNODES" -gt 1 ]]; then
  MODE="torchrun: $NNODES nodes x $NPROC processes, node rank $NODE_RANK"
  CMD=("$PYTHON" -m torch.distributed.run --nnodes "$NNODES" --node_rank "$NODE_RANK"
       --nproc_per_node "$NPROC" --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" "${ENTRY[@]}")
elif [[ "$NPROC" -gt 1 ]]; then
  if [[ -z "$MASTER_PORT" ]]; then
    MASTER_PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  fi
  MODE="torchrun: 1 node x $NPROC processes"
  CMD=("$PYTHON" -m torch.distributed.run --nnodes 1 --nproc_per_node "$NPROC"
       --master_addr 127.0.0.1 --master_port "$MASTER_PORT" "${ENTRY[@]}")
else
  MODE="single process ($([[ -n "$GPUS" && "$GPUS" != "none" ]] && echo "GPU $GPUS" || echo "CPU"))"
  CMD=("$PYTHON" "${ENTRY[@]}")
fi

echo "train.sh: config $CONFIG (valid)"
if [[ "$DRY_RUN" -eq 1 && "$LAUNCH_CHECK" -eq 1 ]]; then
  # everything else the launch needs, reported at once (src/launch_check.py)
  if ! "$PYTHON" -m src.launch_check --config "$CONFIG" --gpus "${GPUS:-none}" -- "${OVERRIDES[@]+"${OVERRIDES[@]}"}"; then
    echo "train.sh: --dry-run: the launch would fail (see above); nothing was launched" >&2
    exit 2
  fi
fi
echo "train.sh: $MODE"
show_command command "${ENV_ASSIGN[@]+"${ENV_ASSIGN[@]}"}" "${CMD[@]}"

if [[ "$DRY_RUN" -eq 1 ]]; then
  exit 0
fi
exec env "${ENV_ASSIGN[@]+"${ENV_ASSIGN[@]}"}" "${CMD[@]}"
