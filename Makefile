# reflex-operator — two commands: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: venv controlplane test test-unit test-e2e demo dev-up dev-down crds bench lint clean

venv: $(STAMP)
$(STAMP): requirements.lock pyproject.toml devstack/pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip -q install --upgrade "pip>=24" "uv==0.13.9"
	$(BIN)/uv pip sync --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e . -e devstack
	touch $(STAMP)

# Regenerate both lock files (the runtime one, for the image, pinned to the same versions).
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml -c requirements.lock --python-version 3.11 --generate-hashes -o requirements-runtime.lock

# Builds kube-apiserver, etcd and kubectl from the upstream Go modules (cached outside the tree).
controlplane: venv
	$(BIN)/reflex-dev controlplane

# The CRD and docs/api.md, generated from the pydantic models.
crds: venv
	$(BIN)/python -m reflex_operator.api.crd

lint: venv
	$(BIN)/lint-imports

test: venv controlplane
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/python -m pytest -p no:cacheprovider tests/unit $(PYTEST_ARGS)

test-e2e: venv controlplane
	$(BIN)/python -m pytest -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

dev-up: venv controlplane
	$(BIN)/reflex-dev up

dev-down: venv
	$(BIN)/reflex-dev down

demo: venv controlplane
	$(BIN)/reflex-dev demo

bench: venv controlplane
	$(BIN)/python bench/run.py

clean: dev-down
	rm -rf $(VENV) .dev
