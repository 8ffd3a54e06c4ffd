# hy2scale: `make run` starts a node in ./data, `make test` runs every test tier.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DATA ?= ./data
API ?= 0.0.0.0:5565
HY2 ?= 0.0.0.0:5565
# Debian packages the interop, e2e and privileged tiers need (installed when running as root).
DEB_PACKAGES := curl chromium shadowsocks-libev iproute2 nftables wireguard-tools wireguard-go strongswan-charon strongswan-swanctl
PYTEST_ARGS ?=

.PHONY: setup run test test-unit test-integration test-interop test-e2e test-privileged bench lint ui clean

setup: $(VENV)/.stamp-deps ui

# python3.12 from PATH, else pyenv's newest 3.12.
PYTHON312 := $(shell command -v python3.12 2>/dev/null || ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)

$(VENV)/bin/python:
	@test -n "$(PYTHON312)" || { echo "error: python3.12 not found (install it or pyenv install 3.12)"; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.stamp-deps: $(VENV)/bin/python pyproject.toml
	$(PIP) install -q -e '.[test]'
	touch $@

ui:
	@if [ -f web/package.json ]; then \
	  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then \
	    (cd web && npm ci --no-audit --no-fund --loglevel=error); fi; \
	  (cd web && npm run --silent build); \
	else echo "ui: no web/ sources, skipping UI build"; fi

system-deps:
	@if [ "$$(id -u)" = "0" ]; then \
	  missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  fi; \
	else echo "system-deps: not root, interop/e2e/privileged tests will skip what is missing"; fi

run: setup
	@mkdir -p $(DATA)
	@echo "hy2scale: UI at http://127.0.0.1:$(lastword $(subst :, ,$(API)))/scale/  (first login admin / admin)"
	$(VENV)/bin/hy2scale run --data $(DATA) --api $(API) --hy2-listen $(HY2)

test: setup system-deps
	$(VENV)/bin/ruff check src tests bench scripts
	$(PY) scripts/run_tests.py $(PYTEST_ARGS)

test-%: setup
	$(PY) -m pytest tests/$* $(PYTEST_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

clean:
	rm -rf $(VENV) web/node_modules src/hy2scale/web/dist
