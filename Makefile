# Everything a fresh machine needs is installed by these targets: Python deps into .venv from
# the lock file (requirements-dev.lock, with hashes; `make lock` regenerates it), the
# control-plane binaries into a per-version cache outside the repo (hack/tools/build.sh), and
# mmdebstrap and buildah for the image test (hack/tools/image-tools.sh, apt only if missing),
# Prometheus and promtool for the alerts and the dashboard (hack/tools/prometheus.sh, likewise),
# PostgreSQL and pgbench for the health loop's database (hack/tools/postgresql.sh, likewise).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv lock image tools crds docs lint unit chart-test integrations-test chart-e2e e2e faults bench-smoke test cluster-up cluster-down demo bench clean

help:
	@echo "make test   - lint, unit, e2e and faults (local cluster) and a tiny benchmark run"
	@echo "make chart-test - helm lint --strict and the chart's helm-unittest suites (no cluster)"
	@echo "make chart-e2e  - the chart on its own local cluster: install, upgrade, uninstall"
	@echo "make integrations-test - Argo CD health and actions, Flux health checks (no cluster)"
	@echo "make faults - the fault tier: control-plane restarts, a frozen operator, 410 Gone, a burst"
	@echo "make demo   - start the local cluster and run bulkhead's examples on it"
	@echo "make bench  - the benchmark (BENCH_N=1000 by default)"
	@echo "make docs   - build the pages under docs/ strictly (a warning or a broken link fails)"
	@echo "make lock   - regenerate requirements.lock and requirements-dev.lock from pyproject.toml"
	@echo "make image  - build the operator image with buildah on a Debian base (no registry)"
	@echo "make cluster-up / cluster-down - the local control plane (eval the output of cluster-up)"

$(STAMP): pyproject.toml requirements-dev.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q --require-hashes --no-deps -r requirements-dev.lock
	@$(PY) -m pip install -q --no-deps -e .
	@touch $@

venv: $(STAMP)

# One command after a dependency changes in pyproject.toml; only PyPI is asked. The runtime
# lock is constrained by the dev lock, so the image runs the versions the tests ran
# (tests/unit/test_lock.py checks both against pyproject.toml).
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' pyproject.toml
lock: $(STAMP)
	$(UV_COMPILE) --extra dev -o requirements-dev.lock
	$(UV_COMPILE) -c requirements-dev.lock -o requirements.lock

image: tools
	@hack/image/build.sh

tools:
	@hack/tools/build.sh >/dev/null
	@hack/tools/image-tools.sh
	@hack/tools/prometheus.sh
	@hack/tools/postgresql.sh
	@hack/tools/rabbitmq.sh

crds: $(STAMP)
	$(PY) -m bulkhead.api.crdgen .

# -W: a warning fails the build; -n: so does a reference that resolves to nothing (a broken link
# or anchor, a page missing or outside the table of contents). The site lands outside git.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -n -q -b html docs .docs-build

lint: $(STAMP) docs
	$(VENV)/bin/ruff check operator tests hack bench
	$(VENV)/bin/ruff format --check operator tests hack bench
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

unit: $(STAMP)
	$(VENV)/bin/pytest -q tests/unit

# The chart alone: lint with the default and the all-options values, then its template
# assertions (charts/bulkhead/tests/*_test.yaml), then promtool on its alerting rules
# (tests/alerts). Seconds, no cluster.
chart-test: tools
	@bin=$$(hack/tools/build.sh) && \
	for values in charts/bulkhead/values.yaml charts/bulkhead/ci/all-options-values.yaml; do \
		"$$bin/helm" lint --strict charts/bulkhead -f "$$values" || exit 1; \
	done && "$$bin/helm-unittest" --strict charts/bulkhead
	@hack/alerts/test-rules.sh

# Argo CD's health scripts and actions run by Argo CD's own Lua code (hack/argocd-lua), the Flux
# health checks by Flux's CEL evaluator and kstatus (hack/flux-cel), on the committed capture
# in integrations/testdata (tests/e2e/test_integrations.py checks a fresh one). Seconds.
integrations-test: tools
	@bin=$$(hack/tools/build.sh) && \
	"$$bin/argocd-lua" -argocd-cm integrations/argocd/argocd-cm.yaml integrations/argocd/resource_customizations && \
	"$$bin/flux-cel" integrations/flux/kustomization.yaml integrations/flux/expectations.yaml

# Its own cluster: helm install/upgrade/uninstall delete and replace the CRDs that the e2e
# session's operator watches.
chart-e2e: $(STAMP) tools
	$(VENV)/bin/pytest -q tests/helm

# The image is built first (test_image.py finds it in the layer cache), outside the cluster's time.
e2e: $(STAMP) tools image
	$(VENV)/bin/pytest -q tests/e2e

# Its own cluster and operator: faults injected mid-run (a few minutes).
faults: $(STAMP) tools
	$(VENV)/bin/pytest -q tests/faults

bench-smoke: $(STAMP) tools
	BENCH_N=20 BENCH_REST_N=40 BENCH_OPEN_RATE=5 BENCH_OPEN_SECONDS=4 BENCH_OPEN_SWEEP=2 BENCH_ADMISSION_N=20 BENCH_EVENTS_N=200 BENCH_EVENTS_RATE=5 BENCH_EVENTS_SECONDS=4 BENCH_PEER_N=40 BENCH_PEER_LATENCY_N=20 BENCH_PEER_ROUNDS=1 BENCH_OUT=$(CURDIR)/.bench-smoke $(PY) -m bench.run

test: lint unit chart-test integrations-test e2e chart-e2e faults bench-smoke

cluster-up: tools
	@python3 hack/cluster up

cluster-down:
	@python3 hack/cluster down

demo: $(STAMP) tools
	@hack/demo.sh

bench: $(STAMP) tools
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .bench-smoke .docs-build .pytest_cache .mypy_cache .ruff_cache
