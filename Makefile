# Build, smoke-test and push every Cog deployment; set up and test the repo on any machine.
# `make help` lists the targets.

# The deployments and tests pin Python 3.11: use the one on PATH, or pass PYTHON=/path/to/python3.11.
PYTHON ?= $(shell command -v python3.11 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
DEPLOYMENTS := $(notdir $(patsubst %/cog.yaml,%,$(wildcard deployments/*/cog.yaml)))
REPLICATE_USER ?=
# Gated on the Hub: Replicate containers get no HF_TOKEN at boot, so their weights must be baked in before a push.
GATED := flux-dev-txt2img flux-dev-img2img gemma3
IMAGE = $(if $(REPLICATE_USER),r8.im/$(REPLICATE_USER)/$*,$*)

.DEFAULT_GOAL := help
.PHONY: help setup test demo lint bench check-cog build-all smoke-all schema-all clean

help: ## list the targets
	@echo "Repo:"
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sed 's/^/  /'
	@echo "Deployments: $(DEPLOYMENTS)"

setup: $(VENV)/.installed ## create .venv (Python 3.11) with the pinned dev requirements

$(VENV)/.installed: requirements/dev.txt requirements/constraints.txt
	@test -n "$(PYTHON)" || { echo "error: python3.11 is not on PATH; install it (e.g. pyenv install 3.11, apt install python3.11-venv) or pass PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==25.3
	$(VENV)/bin/pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	touch $@

TEST_WORKERS ?= 2
test: setup ## run the whole test suite on CPU with tiny models (TEST_WORKERS=2 processes, a module each)
	$(PY) -m pytest -n $(TEST_WORKERS) --durations=25

demo: setup ## build a tiny SmolLM3, serve it with the real Cog server, answer over server-sent events
	$(PY) -m scripts.demo

bench: setup ## CPU benchmarks on tiny models: docs/benchmarks.md (GPU: $(PY) -m scripts.benchmarks --gpu)
	$(PY) -m scripts.benchmarks.lora_swap
	$(PY) -m scripts.benchmarks

STAGE ?= all
DEVICE ?= cuda
.PHONY: gpu-wheels gpu-check

gpu-wheels: ## wheels the GPU machine lacks (Python 3.12) into .whl/, checked against the 64 MiB carry limit
	python3 -m scripts.gpu.wheels

gpu-check: setup ## GPU proof in stages (STAGE=all|functional|speed|<stage>, DEVICE=cuda|cpu): docs/gpu-check.md
	$(PY) -m scripts.gpu.check --stage $(STAGE) --device $(DEVICE)

lint: setup ## ruff
	$(PY) -m ruff check .

check-cog: ## the cog CLI (0.20 or newer: older ones read `cog run` as `cog exec`) and a Docker engine
	@command -v cog >/dev/null 2>&1 || { echo "error: the cog CLI is not installed (https://cog.run/getting-started)"; exit 1; }
	@python3 scripts/check_cog.py
	@docker info >/dev/null 2>&1 || { echo "error: no Docker engine is running; cog build needs one (and a GPU host to run)"; exit 1; }

stage-%: ## copy shared/ into deployments/<name>/ (Cog's build context is the deployment folder)
	rm -rf deployments/$*/shared
	cp -R shared deployments/$*/shared
	find deployments/$*/shared -name __pycache__ -prune -exec rm -rf {} +

weights-%: setup ## download the pinned weights into deployments/<name>/weights/, then save the quantized model beside them (both baked into the image; HF_TOKEN from the env)
	$(PY) -m scripts.fetch_weights $*
	$(PY) -m scripts.save_served $*

build-%: check-cog stage-% ## cog build the image $(IMAGE) (r8.im/$(REPLICATE_USER)/<name>, or <name> locally)
	@test -d deployments/$*/weights || echo "note: no deployments/$*/weights: the image will download its weights at setup (make weights-$* bakes them in)"
	cd deployments/$* && cog build --separate-weights -t $(IMAGE)

smoke-%: build-% ## build, then run each committed smoke input with cog run (outputs in a temporary folder) and check an answer came back
	python3 scripts/smoke.py deployments/$* --image $(IMAGE)

push-%: check-cog stage-% ## cog push to r8.im/$(REPLICATE_USER)/<name>, weights in their own layer
	@test -n "$(REPLICATE_USER)" || { echo "error: set REPLICATE_USER=<your Replicate username>"; exit 1; }
	@if echo " $(GATED) " | grep -q " $* " && ! test -d deployments/$*/weights; then echo "error: $* is gated on the Hub and Replicate gives containers no HF_TOKEN: run make weights-$* first"; exit 1; fi
	cd deployments/$* && cog push --separate-weights r8.im/$(REPLICATE_USER)/$*

schema-%: setup ## regenerate deployments/<name>/openapi.json from its predictor
	$(PY) -m scripts.openapi_schema deployments/$* --write

build-all: $(addprefix build-,$(DEPLOYMENTS)) ## build every deployment
smoke-all: $(addprefix smoke-,$(DEPLOYMENTS)) ## smoke-test every deployment
schema-all: $(addprefix schema-,$(DEPLOYMENTS)) ## regenerate every committed OpenAPI schema

clean: ## remove staged copies of shared/ and Cog's build artefacts
	rm -rf $(addsuffix /shared,$(addprefix deployments/,$(DEPLOYMENTS))) $(addsuffix /.cog,$(addprefix deployments/,$(DEPLOYMENTS)))
