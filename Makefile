# reflex-operator — two commands: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: venv controlplane promtool chart image image-tools cluster cluster-tools cluster-up cluster-down test-cluster test test-unit test-e2e coverage demo dev-up dev-down crds bench bench-scale bench-fleet bench-takeback lint clean

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
	$(BIN)/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
	  | $(BIN)/uv pip compile - --python-version 3.11 --generate-hashes --no-header -o requirements-build.lock

# Builds kube-apiserver, etcd and kubectl from the upstream Go modules (cached outside the tree).
controlplane: venv
	$(BIN)/reflex-dev controlplane

# promtool, built from its Go module (tests/promtool) and cached outside the tree like the control
# plane: tests/integration/test_alerts.py checks and unit-tests the alert rules with it.
promtool: venv
	$(BIN)/python -m reflex_dev.promtool

# The CRD and docs/api.md, generated from the pydantic models (and copied into the Helm chart).
crds: venv
	$(BIN)/reflex-operator crds
	$(BIN)/python -m reflex_dev.chart

# The Helm chart's copies of crds/, manifests/admission/ and the Grafana dashboard, and its
# values.schema.json (from settings.py); tests/unit/test_chart_sources.py fails when they drift.
chart: venv
	$(BIN)/python -m reflex_dev.chart

# Debian's buildah, debootstrap and runc, to build and run the image in the tests: installed
# when missing and we are root (CI); otherwise tests/e2e/test_image.py skips, saying why.
image-tools:
	@if command -v buildah >/dev/null && command -v debootstrap >/dev/null && command -v runc >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap runc >/dev/null; \
	else echo "image-tools: buildah/debootstrap/runc missing and not root: the image test will skip"; fi

# The image, built here from the Dockerfile on a Debian base, hermetically (reflex_dev/image.py).
image: venv image-tools
	$(BIN)/reflex-dev image

# Debian's containerd, runc, CNI plugins, iptables and conntrack for the test cluster (tests/cluster,
# reflex_dev/cluster.py): installed when missing and we are root (CI); otherwise the cluster suite
# fails saying why (REFLEX_CLUSTER_TESTS=skip skips it, saying why).
cluster-tools: image-tools
	@if command -v containerd >/dev/null && command -v containerd-shim-runc-v2 >/dev/null && [ -x /usr/lib/cni/bridge ] \
	  && command -v iptables >/dev/null && command -v ip >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd runc containernetworking-plugins iptables conntrack iproute2 >/dev/null; \
	else echo "cluster-tools: containerd/runc/CNI plugins missing and not root: the cluster suite will fail, saying why"; fi

# kubelet, kube-controller-manager, kube-scheduler and kube-proxy from the control plane's Go
# modules (cached beside kube-apiserver), and the sandbox image's binary (tests/cluster/pause).
cluster: venv controlplane
	$(BIN)/python -m reflex_dev.cluster

# A one-node cluster on this machine (root), detached, with the AWS emulator and the simulator, the
# operator's image imported: `. .cluster/env`, then `helm install` the chart (README "Try the chart on
# a real cluster"). `make cluster-down` stops it.
cluster-up: venv cluster cluster-tools
	$(BIN)/python -m reflex_dev.clusterstack up

cluster-down: venv
	$(BIN)/python -m reflex_dev.clusterstack down

lint: venv
	$(BIN)/lint-imports

# The cluster suite (tests/cluster: one real cluster, the chart installed with helm) runs in a pytest
# process of its own, at the same time as the rest; its output is printed when both are done (and
# kept in .cluster-suite.log). CLUSTER=0 leaves it out.
CLUSTER ?= 1
test: venv controlplane promtool image-tools $(if $(filter 1,$(CLUSTER)),cluster cluster-tools)
	$(BIN)/lint-imports
	@status=0; cluster_status=0; \
	if [ "$(CLUSTER)" = 1 ]; then \
	  $(BIN)/python -m pytest -p no:cacheprovider tests/cluster -q --durations=0 > .cluster-suite.log 2>&1 & cluster=$$!; \
	fi; \
	$(BIN)/python -m pytest -p no:cacheprovider --ignore=tests/cluster $(PYTEST_ARGS) || status=$$?; \
	if [ "$(CLUSTER)" = 1 ]; then \
	  wait $$cluster || cluster_status=$$?; \
	  echo "===== the cluster suite (tests/cluster), run alongside; exit $$cluster_status ====="; cat .cluster-suite.log; \
	fi; \
	[ $$status = 0 ] && [ $$cluster_status = 0 ]

test-cluster: venv cluster cluster-tools
	$(BIN)/python -m pytest -p no:cacheprovider tests/cluster $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/python -m pytest -p no:cacheprovider tests/unit $(PYTEST_ARGS)

test-e2e: venv controlplane
	$(BIN)/python -m pytest -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

# Line coverage of reflex_operator over the whole suite (unit, integration, e2e), the e2e tests'
# operator subprocesses included (REFLEX_COVERAGE=1, see tests/fixtures/operator.py). The report is
# printed and written to .coverage-report.txt, also when a test fails (the exit status is pytest's).
coverage: export COVERAGE_FILE := $(CURDIR)/.coverage
coverage: export COVERAGE_RCFILE := $(CURDIR)/pyproject.toml
coverage: venv controlplane
	rm -f .coverage .coverage.* .coverage-report.txt
	status=0; REFLEX_COVERAGE=1 $(BIN)/python -m coverage run -m pytest -p no:cacheprovider --ignore=tests/cluster $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/python -m coverage combine -q && \
	{ $(BIN)/python -m coverage report && $(BIN)/python -m coverage json -q -o /dev/stdout | $(BIN)/python -c \
	  'import json, sys; t = json.load(sys.stdin)["totals"]; print("reflex_operator lines: %d of %d covered (%.1f%%)" % (t["covered_lines"], t["num_statements"], 100.0 * t["covered_lines"] / t["num_statements"]))'; \
	} | tee .coverage-report.txt; \
	exit $$status

dev-up: venv controlplane
	$(BIN)/reflex-dev up

dev-down: venv
	$(BIN)/reflex-dev down

demo: venv controlplane
	$(BIN)/reflex-dev demo

bench: venv controlplane
	$(BIN)/python bench/run.py
	$(BIN)/python bench/run.py --api

# The emulator's and the simulator's own speed at N services and builds (CHECKPOINTS=1000,10000).
.PHONY: bench-emulator
CHECKPOINTS ?= 1000,10000
bench-emulator: venv
	$(BIN)/python bench/emulator_speed.py --checkpoints $(CHECKPOINTS)

# Fleet scale (issue 11): N databases from one apply on a stack of its own (.bench-scale/), measured;
# writes .bench-scale/results-$(N).json and prints the table against the targets (bench/scale.py).
N ?= 1000
POLL ?= 60
READY_TIMEOUT ?=
RATE_SCALE ?= 1
bench-scale: venv controlplane
	$(BIN)/python bench/scale.py --n $(N) --poll $(POLL) $(if $(READY_TIMEOUT),--ready-timeout $(READY_TIMEOUT)) --rate-scale $(RATE_SCALE)

# A fleet change at AWS's costs (issue 23): provision N, then a new server version across them, at
# default quotas and rates (RATE_SCALE: raised that many times) with builds of BUILD_MINUTES
# compressed COMPRESSION times (bench/fleet.py); WAVES=1 adds a new default server version rolled
# in health-gated waves. Writes bench/results/fleet-$(N).json and .md.
BUILD_MINUTES ?= 5
COMPRESSION ?= 10
WAVES ?=
bench-fleet: venv controlplane
	$(BIN)/python bench/fleet.py --n $(N) --poll $(POLL) --build-minutes $(BUILD_MINUTES) --compression $(COMPRESSION) --rate-scale $(RATE_SCALE) $(if $(filter 1,$(WAVES)),--waves)

# A rebuilt cluster takes its fleet back (issue 22): N databases provisioned on a stack of its own
# (.bench-takeback/), the control plane replaced by a new one (fresh etcd, AWS kept), the same
# manifests applied again, the take-back measured (bench/takeback.py). RATE_SCALE: AWS rates x
# this, 10 unless given (provisioning at fleet size needs raised rates; the results also give the
# take-back's time at the default quotas by the budgets' arithmetic).
bench-takeback: venv controlplane
	$(BIN)/python bench/takeback.py --n $(N) --poll $(POLL) --rate-scale $(if $(filter command line environment,$(origin RATE_SCALE)),$(RATE_SCALE),10)

clean: dev-down
	rm -rf $(VENV) .dev
