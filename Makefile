# The index of what a developer can do. `make help` lists it.
# python3.11, else python3 when it is 3.11 (override: make PYTHON=/path/to/python3.11 ...)
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || \
  { python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null && echo python3; } || \
  echo python3.11)
PORT   ?=
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
ROLE   ?= trader
ACCOUNT ?= dev-$(ROLE)

.DEFAULT_GOAL := help
.PHONY: help docs-check run test lint typecheck unit bench backtest token deps-local deps-dev emulators clean checkov-deps smoke _install-local _install-dev

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Installs hold a lock (flock where it exists, else a lock directory), so `make run &` and
# `make -s token` started together never run two pips into one virtualenv: the second waits,
# then finds the stamp fresh and installs nothing. pip's progress goes to stderr, so
# `TOKEN=$$(make -s token)` captures only the token.
LOCK := .venv-install.lock
define locked
	@if command -v flock >/dev/null 2>&1; then flock $(LOCK) $(MAKE) --no-print-directory $(1); \
	else until mkdir $(LOCK).d 2>/dev/null; do [ -n "$$said" ] || echo "waiting for another \
	install to finish (if none runs: rmdir $(LOCK).d)" >&2; said=1; sleep 1; done; \
	$(MAKE) --no-print-directory $(1); rc=$$?; rmdir $(LOCK).d; exit $$rc; fi
endef

$(VENV)/.local-installed: requirements.txt requirements-local.txt containerapps/relay/requirements.txt
	$(call locked,_install-local)

_install-local:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3 ...)" >&2; exit 1; }
	@if [ -f $(VENV)/.local-installed ] && [ -z "$$(find requirements.txt requirements-local.txt containerapps/relay/requirements.txt -newer $(VENV)/.local-installed)" ]; then exit 0; fi; \
	echo "installing requirements-local.txt into $(VENV) (first run: a few minutes)" >&2; \
	{ test -x $(PY) || $(PYTHON) -m venv $(VENV); } && \
	$(PIP) install --progress-bar on --upgrade pip 1>&2 && \
	$(PIP) install --progress-bar on -r requirements-local.txt 1>&2 && \
	touch $(VENV)/.local-installed

$(VENV)/.dev-installed: $(VENV)/.local-installed requirements-dev.txt
	$(call locked,_install-dev)

_install-dev:
	@if [ -f $(VENV)/.dev-installed ] && [ -z "$$(find requirements-dev.txt $(VENV)/.local-installed -newer $(VENV)/.dev-installed)" ]; then exit 0; fi; \
	$(PIP) install -r requirements-dev.txt 1>&2 && touch $(VENV)/.dev-installed

CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps-local: $(VENV)/.local-installed ## virtualenv with what the local host needs
deps-dev: $(VENV)/.dev-installed node_modules/.installed ## + test tools and the npm emulators
checkov-deps: $(CHECKOV_VENV)/.installed ## checkov in its own virtualenv (for the Bicep checks)

run: deps-local ## start the local host on embedded storage at http://127.0.0.1:7071 (PORT=...)
	$(PY) -m devhost $(if $(PORT),--port $(PORT))

test: deps-dev checkov-deps lint typecheck ## lint, types and the whole test suite (emulators included)
	$(PY) -m pytest

unit: deps-dev checkov-deps ## tests only, no lint
	$(PY) -m pytest

lint: deps-dev ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: deps-dev ## mypy
	$(VENV)/bin/mypy .

docs-check: deps-dev ## run the README's examples against a fresh local host (make test runs it too)
	$(PY) -m pytest -q tests/tooling/test_readme_examples.py

bench: deps-dev ## every benchmark in bench/, printing figures and ratios
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

backtest: deps-local ## sweep through the Durable orchestration: make backtest ARGS="--symbol GOOG --grid fast=5:50:5 slow=20:200:10"
	$(PY) -m tools.backtest $(ARGS)

token: deps-local ## print a dev-issuer bearer token: make token ROLE=trader ACCOUNT=alice
	@out=$$($(PY) -m devhost.token --role $(ROLE) --account $(ACCOUNT)) && [ -n "$$out" ] \
	  || { echo "make token: no token minted (see the error above)" >&2; exit 1; }; echo "$$out"

smoke: deps-local ## smoke-test a running app: make smoke URL=https://<app>.azurewebsites.net [TOKEN=...]
	@echo "$(PY) -m tools.smoke --base-url $(URL)$(if $(TOKEN), (bearer token from TOKEN via SMOKE_TOKEN; not shown),)"
	@$(if $(TOKEN),SMOKE_TOKEN="$$TOKEN" ,)$(PY) -m tools.smoke --base-url $(URL)

clean: ## remove local data (lake, documents, durable state)
	rm -rf .data
