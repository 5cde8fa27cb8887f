# RetailOps: `make run` sets up and serves the app; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000

.PHONY: run test lint bench loadtest install install-dev install-loadtest clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-run
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(VENV)/.installed-loadtest: pyproject.toml $(VENV)/.installed-run
	$(PY) -m pip install --quiet -e '.[loadtest]'
	@touch $@

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev
install-loadtest: $(VENV)/.installed-loadtest

# This checkout's own settings for `make run` and the operator commands beside it: DEBUG
# on and a SECRET_KEY of its own. Written once; git ignores it; the environment wins.
.env:
	@$(PYTHON) -c 'import secrets; print("# Written by make run for this checkout: see .env.example.\nDEBUG=1\nSECRET_KEY=" + secrets.token_urlsafe(50))' > $@
	@echo "Wrote .env (DEBUG=1 and a generated SECRET_KEY) for this checkout."

## run: install, migrate, load demo data and serve the app with a worker (Ctrl-C stops)
run: install .env
	@export DEBUG=$${DEBUG:-1} PORT=$(PORT); \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py seed_demo && \
	exec $(PY) manage.py devstack --port $(PORT)

## test: install the dev tools and run the whole suite
test: install-dev
	RETAILOPS_TESTING=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: install-dev
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

## loadtest: the mixed partner and staff workload under locust against gunicorn, Celery, PostgreSQL
## and Redis for LOADTEST_DURATION seconds, then its figures per request kind and verify_ledger
LOADTEST_DURATION ?= 600
loadtest: install-loadtest
	LOADTEST_DURATION=$(LOADTEST_DURATION) $(PY) -m loadtest.run

clean:
	rm -rf $(VENV) var
