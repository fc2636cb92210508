# clickguard — every target installs what it needs on a fresh machine (Python venv + the pinned CDK CLI).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= -n 2 --dist loadfile
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help setup test lint format demo train-local bench synth layer clean

help:
	@echo "make demo         the main job: the whole stack on an embedded AWS emulator, simulated traffic, report"
	@echo "                  (FORMAT=kpl|segment|snowplow|gzip|...: put the events as that producer would)"
	@echo "make test         install everything, lint, run every test"
	@echo "make train-local  train a model from a simulated export file into ./demo-out/models"
	@echo "make bench        run the benchmarks in bench/ (prints figures and ratios)"
	@echo "make bench-weblog detection quality on the second, unrelated simulator (web traffic with bots)"
	@echo "make synth        cdk synth with the pinned CLI from package.json"
	@echo "make layer        build the Lambda layer (no Docker) into build/layer/"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-cache-dir --upgrade pip
	$(PY) -m pip install --quiet --no-cache-dir -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

# Type-checked strictly (flags in pyproject.toml): everything shipped or run by the CLI; the package, the CDK app,
# the Lambda handlers.
MYPY_TARGETS := -p clickguard.model -p clickguard.training -p clickguard.consumer -p clickguard.store -p clickguard.review -p clickguard.decoding -p clickguard.network -p clickguard.api -m clickguard.events \
	-p clickguard.cli -p clickguard.local -p clickguard.sim -p clickguard.report -m clickguard.settings -m clickguard.files -m clickguard.field_names -m clickguard.timestamps -m clickguard.pages -m clickguard.rejections \
	-m clickguard.envconfig -m clickguard.alerts -m clickguard.gc_pause -p infra -p lambdas -p training

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_TARGETS)

format: $(VENV)/.installed
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

layer: $(VENV)/.installed
	$(PY) layers/build_layer.py

synth: setup layer
	npx cdk synth --quiet

train-local: $(VENV)/.installed
	$(VENV)/bin/clickguard simulate --days 1 --seed 7 --out demo-out/sim
	$(VENV)/bin/clickguard train -i demo-out/sim/day-01.events.ndjson -o demo-out/models

# FORMAT: how the demo puts its events on the stream (canonical, kpl, segment, ...: `clickguard produce --format`)
FORMAT ?= canonical
demo: setup
	$(VENV)/bin/clickguard demo --out demo-out --format $(FORMAT)

bench: $(VENV)/.installed
	$(PY) -m bench.bench_training
	$(PY) -m bench.bench_consumer
	$(PY) -m bench.bench_score
	$(PY) -m bench.bench_quality
	$(PY) -m bench.bench_weblog
	$(PY) -m bench.bench_network
	$(PY) -m bench.bench_local_memory

# Detection quality (issue 10): the current rule beside the seeds' methods on a grid of simulated days (about 3 minutes).
.PHONY: bench-quality
bench-quality: $(VENV)/.installed
	$(PY) -m bench.bench_quality

# Detection quality on a second, unrelated simulator: web traffic with automated clients (about 30 seconds).
.PHONY: bench-weblog
bench-weblog: $(VENV)/.installed
	$(PY) -m bench.bench_weblog

clean:
	rm -rf $(VENV) node_modules cdk.out build demo-out .pytest_cache .ruff_cache
