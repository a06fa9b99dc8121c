# Two commands on a fresh clone: `make smoke` (main job) and `make test` (the suite).
# Both install into .venv when needed and build the offline tiny model and data if missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALL_STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
ART := artifacts
SMOKE_CONFIG ?= configs/smoke/sft_dense_tiny.yaml

.PHONY: install artifacts artifacts-warm smoke test test-fast bench learn validate lint clean-artifacts

install: $(INSTALL_STAMP)

$(INSTALL_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --progress-bar off -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Offline, deterministic, cached by fingerprint: a second run is a no-op.
artifacts: install
	$(PY) -m src.models.tiny_qwen3_vl --out $(ART)/tiny-qwen3-vl
	$(PY) -m src.models.tiny_qwen3_vl --out $(ART)/tiny-qwen3-vl-coord --coord-tokens
	$(PY) -m src.models.tiny_qwen3_vl --variant pos-teacher
	$(PY) -m src.datasets.synthetic --out $(ART)/data/synthetic_dense --train 64 --val 16 --seed 0
	$(PY) -m src.datasets.synthetic --out $(ART)/data/synthetic_dense_b --train 48 --val 8 --seed 1
	$(PY) -m src.datasets.synthetic_chat --out $(ART)/data/synthetic_chat --train 32 --val 8 --seed 0
	$(PY) -m src.datasets.synthetic --out $(ART)/data/synthetic_easy --easy --train 512 --val 64 --seed 0
	$(PY) -m src.datasets.synthetic --out $(ART)/data/synthetic_easy_one --easy --one-object --train 4096 --val 64 --seed 0
	$(PY) -m src.datasets.synthetic --out $(ART)/data/synthetic_easy_warm --easy --train 4096 --val 64 --seed 1

# The warm "stage-1" tiny checkpoints the GRPO, GKD and stage2_ab smokes start from: 600 SFT steps each of
# the `pos` tiny variants on 4,096 easy records, then a held-out evaluation on 64 val records; both variants
# at once on one thread each (about 7 minutes of one core each: 412 s CPU measured for coord; cached by
# fingerprint).
artifacts-warm: artifacts
	$(PY) -m src.models.warm_checkpoint --variant plain & pid=$$!; \
	$(PY) -m src.models.warm_checkpoint --variant coord; rc=$$?; \
	wait $$pid && exit $$rc

# Re-running keeps the earlier smoke run: it moves to <run dir>/previous_runs/<time>/.
# A preset that starts from a warm checkpoint (gkd, grpo, stage2_ab smokes) builds those first.
SMOKE_WARM := $(if $(shell grep -s -- '-warm' $(SMOKE_CONFIG)),artifacts-warm)
smoke: artifacts $(SMOKE_WARM)
	$(PY) -m src.sft --config $(SMOKE_CONFIG) --allow-existing-run-dir $(OVERRIDES)

# pytest exits 5 when it collected nothing: for this project that means the suite is broken.
test: artifacts artifacts-warm
	@set +e; $(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the test suite is missing or mis-configured" >&2; exit 1; fi; \
	exit $$rc

test-fast: artifacts artifacts-warm
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

validate: install
	$(PY) scripts/config_tools/inspect_config.py validate

# Every benchmark, each run recorded in benchmarks/RESULTS.md (its table of latest figures regenerated),
# summary against a 25-minute budget.
bench: artifacts artifacts-warm
	$(PY) benchmarks/run_all.py

# Does the launcher teach the tiny model to see? Real run vs image-shuffled control, curves + PNG
# (docs/learning.md). By default the tiny `pos` variant on the one-object split (4,096 train / 64 val),
# 1,200 steps per run with a warm-up and cosine decay of the rates (recorded with LEARN_ARGS="--threads 1":
# about 16 minutes of training and 4 of evaluation per run on the shared 2-core machine). Figures go to RESULTS.md.
learn: artifacts
	$(PY) benchmarks/bench_learning.py $(LEARN_ARGS)

lint: install
	$(VENV)/bin/ruff check src scripts tests benchmarks

clean-artifacts:
	rm -rf $(ART)

# Mutation testing of the objective-critical modules with mutmut 3 (slow; not part of CI or `make test`).
# Narrow it with MUTATION_MODULES="geometry packing_guard"; MUTATION_ARGS="--max-children 2" on a busy machine.
.PHONY: mutation
mutation: artifacts
	$(PY) scripts/run_mutation.py $(MUTATION_MODULES) $(MUTATION_ARGS)
