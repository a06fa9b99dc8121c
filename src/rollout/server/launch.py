"""The Python half of scripts/train_stage2.sh (any mode with a rollout server: stage2_ab, GRPO, GKD):
preflight + server command, health wait, launch record.

    python -m src.rollout.server.launch plan --config C --server-gpus 0,1 --train-gpus 2,3
                                             [--port P] [--swift PATH] [key.path=value ...]
    python -m src.rollout.server.launch wait --host H --port P --pid PID --log FILE
                                             --timeout S --world-size N
    python -m src.rollout.server.launch record --out FILE --pid PID   (JSON from $RECORD_JSON)

`plan` prints shell assignments (plan.py) for the script to `eval`, or every preflight problem
(one paragraph each) on stderr with exit 2. `wait` exits 0 once `/health/` and `/get_world_size/`
answer as expected, 1 (with the server log's tail) when the server dies or the wait times out
(health.py). `record` writes the launch record (record.py). Imports no torch and no ms-swift: this
runs before anything heavy. The server flags follow from the config (settings.py); the server
binds to the loopback host and never gets `--api_key`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .health import PROG, wait_for_server
from .plan import LaunchError, make_plan, shell_assignments
from .record import write_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.rollout.server.launch")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--config", required=True)
    p.add_argument("--server-gpus", required=True)
    p.add_argument("--train-gpus", required=True)
    p.add_argument("--port", type=int)
    p.add_argument("--swift")
    p.add_argument("overrides", nargs="*")
    w = sub.add_parser("wait")
    w.add_argument("--host", required=True)
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--pid", type=int)
    w.add_argument("--log")
    w.add_argument("--timeout", type=float, required=True)
    w.add_argument("--world-size", type=int)
    r = sub.add_parser("record")
    r.add_argument("--out", required=True)
    r.add_argument("--pid", type=int)
    args = parser.parse_args(argv)

    if args.cmd == "plan":
        try:
            plan = make_plan(args.config, args.overrides, args.server_gpus, args.train_gpus, args.port, args.swift)
        except LaunchError as exc:
            n = len(exc.problems)
            print(f"{PROG}: error: preflight failed ({n} problem{'s' if n > 1 else ''}); nothing was started.\n\n"
                  + "\n\n".join(f"- {p}" for p in exc.problems), file=sys.stderr)
            return 2
        print(shell_assignments(plan))
        return 0
    if args.cmd == "wait":
        error = wait_for_server(args.host, args.port, timeout_s=args.timeout, world_size=args.world_size,
                                pid=args.pid, log=args.log)
        if error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return 1
        return 0
    write_record(args.out, json.loads(os.environ["RECORD_JSON"]), args.pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
