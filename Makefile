# Everything a newcomer needs: `make run` starts the agent on a demo folder, `make test` runs the suite.
# Both bootstrap .venv from pyproject.toml on first use; nothing is installed by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run scan-demo test test-fast lint bench wheelhouse servers deb sbom clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools>=77' wheel
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Start the agent on the built-in demo config: watches ./var/drop, alerts on the console and in
## ./var/alerts.jsonl, metrics on http://127.0.0.1:9808/metrics. Ctrl-C to stop.
run: $(STAMP)
	$(BIN)/dropwarden run --demo

## One-shot scan of generated sample files (no daemon).
scan-demo: $(STAMP)
	$(BIN)/python -m agent.demo var/demo
	$(BIN)/dropwarden scan var/demo --format text || true

## Lint, types and layer contracts, then the whole suite, integration tests with real Prometheus and
## Alertmanager included (what .ci/run calls).
test: lint servers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Unit tests only (no servers, no daemon processes).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not slow" $(PYTEST_ARGS)

## Style and bug patterns (ruff, incl. bandit and complexity), types (mypy), layer contracts (import-linter).
lint: $(STAMP)
	$(BIN)/ruff check agent tests bench
	$(BIN)/ruff format --check agent tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Installs Debian's prometheus, prometheus-alertmanager and promtool when missing (root only).
servers:
	bash deploy/servers.sh

## Every issue-19 figure with its target and the launches behind it: throughput against plain
## Presidio, start-up, office formats, OCR latency, memory (see bench/README.md; 15-25 minutes).
## `make bench BENCH_ARGS=--quick` runs each part on smaller inputs.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python bench/all.py $(BENCH_ARGS)

## Wheels of Dropwarden and every dependency, for offline (air-gapped) installs: see deploy/install.md.
wheelhouse: $(STAMP)
	rm -rf wheelhouse && mkdir -p wheelhouse
	$(BIN)/python -m pip wheel --quiet --wheel-dir wheelhouse .

## Debian package (Debian 12, amd64) in dist/: venv under /opt/dropwarden, unit, sysusers.d and
## tmpfiles.d, policies, rules, dashboard, SBOM (dh-virtualenv; as root it installs the build tools).
deb: $(STAMP)
	CYCLONEDX=$(CURDIR)/$(BIN)/cyclonedx-py bash deploy/build-deb.sh dist

## CycloneDX SBOM of a runtime-only venv (what ships, without the test tools) in dist/, with its
## size and package count.
sbom: $(STAMP)
	bash deploy/sbom.sh dist

clean:
	rm -rf $(VENV) var build dist *.egg-info bench/out
