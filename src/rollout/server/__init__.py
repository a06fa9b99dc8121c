"""The vLLM rollout server (`swift rollout`), one home for every mode that uses one: stage2_ab
Channel B (through this package's client), GRPO and GKD server mode (through ms-swift's own client).

- launch.py     the CLI behind scripts/train_stage2.sh (`python -m src.rollout.server.launch`)
- settings.py   what the config says about its server -> `swift rollout` flags, learner overrides
- plan.py       the launch preflight (GPU split, port, model, run directory) and the command
- health.py     launch-side wait for `/health/` and `/get_world_size/` (the world-size parser the
                client uses too)
- record.py     the launch record (`rollout_server.json`): written by the launcher, read by the client
- transport.py  HTTP with one hard deadline; the server's routes; response JSON
- contract.py   the `/infer/` request/response contract over ms-swift's own pydantic models
- client.py     `VllmServerBackend`, the stage2_ab rollout backend (health, rollouts, weight sync)
- weight_sync.py  LoRA-merged weights pushed through ms-swift's `VLLMClient`

Its config rules are `src/config/server_mode.py` (config validation runs them torch-free before
anything heavy, and config is the lowest layer); the manifest reads the launch record through
`src/provenance/rollout.py` (layer 3, below this package). launch/settings/plan/health/record/
transport import no torch and no ms-swift.
"""
