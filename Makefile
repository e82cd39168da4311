# sriov-e2e — `make test` (the harness's own tests) and `make e2e` (the suites) on a fresh Debian 12 machine as root.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := iproute2 util-linux containernetworking-plugins python3-venv
E2E_APT_PACKAGES := containerd runc iptables busybox-static
PYTEST_FLAGS ?=
E2E_FLAGS ?=
REPORT_DIR ?= artifacts/report
ALLURE_NPM := allure@3.18.0

.PHONY: help deps deps-e2e apt-install venv lint typecheck test test-unit test-integration tools e2e report bench cluster-up cluster-down clean

help:
	@echo "make test   — install what is needed, lint, type-check, run the unit and integration tiers"
	@echo "make tools  — build the pinned upstream stack (Kubernetes, sriovdp, Multus, CNIs) from sources"
	@echo "make e2e    — the lifecycle suites on the local backend"
	@echo "make report — Allure HTML + text summary of the last e2e run"
	@echo "make bench  — speed and memory of pools, inventory and a local cluster"

# Debian packages the integration tier drives (ip, unshare, setpriv, the CNI reference plugins)
deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(APT_PACKAGES)"

# the local backend's node runtime (containerd + runc from Debian) and what the image builder needs
deps-e2e:
	@$(MAKE) --no-print-directory apt-install PKGS="$(E2E_APT_PACKAGES)"

apt-install:
	@missing=""; for p in $(PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to apt-get install$$missing" >&2; exit 1; fi; \
	  echo "apt-get install$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(VENV)/.stamp: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.stamp

lint: venv
	$(VENV)/bin/ruff check sriov_e2e tests e2e conftest.py

typecheck: venv
	$(VENV)/bin/mypy

test-unit: venv
	$(PY) -m pytest tests -m unit $(PYTEST_FLAGS)

test-integration: deps venv
	$(PY) -m pytest tests -m integration $(PYTEST_FLAGS)

test: deps venv lint typecheck
	@start=$$(date +%s); $(PY) -m pytest tests -m unit $(PYTEST_FLAGS); echo "unit tier: $$(( $$(date +%s) - start )) s"
	@start=$$(date +%s); $(PY) -m pytest tests -m integration $(PYTEST_FLAGS); echo "integration tier: $$(( $$(date +%s) - start )) s"

tools: deps-e2e
	python3 -m sriov_e2e.toolchain build

# the main job: build (or reuse) the pinned stack, bring a local cluster up, run every flow, bring it down
e2e: deps deps-e2e venv tools
	@mkdir -p $(REPORT_DIR)
	$(PY) -m pytest e2e --junitxml=$(REPORT_DIR)/junit.xml --alluredir=$(REPORT_DIR)/allure-results \
	  --clean-alluredir $(E2E_FLAGS)

# the last e2e run as Allure HTML (offline, npm package) plus a plain-text summary for terminals
report: venv
	@test -d $(REPORT_DIR)/allure-results || { echo "make report: no $(REPORT_DIR)/allure-results (run make e2e)" >&2; exit 2; }
	npx --yes $(ALLURE_NPM) generate $(REPORT_DIR)/allure-results -o $(REPORT_DIR)/html
	@$(PY) -m sriov_e2e.report --junit $(REPORT_DIR)/junit.xml \
	  --timings "$$(ls -td artifacts/e2e-*/timings.json 2>/dev/null | head -1)"
	@echo "HTML report: $(REPORT_DIR)/html/index.html"

# speed and memory, measured (not asserted): pools, inventory walk, a local cluster's up/down, last e2e timings
bench: deps deps-e2e venv tools
	$(PY) -m sriov_e2e.bench --cluster

cluster-up: deps deps-e2e venv tools
	$(VENV)/bin/sriov-e2e cluster up

cluster-down: venv
	$(VENV)/bin/sriov-e2e cluster down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
