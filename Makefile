# Backstop: two commands matter. `make demo` and `make test`. The rest are helpers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROOT := $(CURDIR)

# Airflow for the demo and the UI lives in an ignored folder; nothing touches ~/airflow.
export AIRFLOW_HOME ?= $(ROOT)/.local/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export PYTHONPATH := $(ROOT)/plugins:$(ROOT)
export PATH := $(ROOT)/$(BIN):$(PATH)

.PHONY: help install chromium test test-scaleout redis-server demo up down validate lint fmt lock bench clean

help:
	@echo "make demo      run every pipeline against the local stack and print what it did"
	@echo "make test      run the whole test suite"
	@echo "make up        Airflow UI on http://localhost:$${BACKSTOP_PORT:-8080} against the local stack (background)"
	@echo "make down      stop every process make up started"
	@echo "make validate  check include/backup_policy.yaml (or BACKSTOP_POLICY_FILE)"
	@echo "make lint      ruff check + format check"
	@echo "make bench     print every benchmark's figures (parse, retention, triggerer, fleet, scaleout: 50+ min)"
	@echo "make test-scaleout  the weekly chain on CeleryExecutor + PostgreSQL + Redis (tests/deploy, ~5 min)"

$(STAMP): requirements-lock.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements-lock.txt
	touch $(STAMP)

install: $(STAMP) chromium

# The browser tests (tests/browser) drive Debian's chromium: installed here when missing, if we
# are root with apt (browser downloads are impossible here); otherwise those tests skip, saying so.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "could not install chromium: the browser tests will skip"; \
	fi

test: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2

# The Celery topology needs Redis: Debian's redis-server, installed here when root with apt.
redis-server:
	@command -v redis-server >/dev/null || test -x /usr/bin/redis-server || \
	  { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; } ; } || \
	  { echo "redis-server is missing: install Debian's redis-server (apt-get install redis-server)"; exit 1; }

test-scaleout: $(STAMP) redis-server
	$(BIN)/python -m pytest -p no:xdist -m scaleout tests/deploy

demo: $(STAMP)
	$(BIN)/python -m include.local.demo

up: $(STAMP)
	$(BIN)/python -m include.local.up

down: $(STAMP)
	$(BIN)/python -m include.local.up down

validate: $(STAMP)
	$(BIN)/python -m backstop.policy validate $(BACKSTOP_POLICY_FILE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock:
	$(BIN)/uv pip compile -q requirements-dev.txt -o requirements-lock.txt --python-version 3.11

bench: $(STAMP)
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/retention.py
	$(BIN)/python bench/triggerer.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/scaleout.py

clean:
	-$(BIN)/python -m include.local.up down 2>/dev/null
	rm -rf .local .pytest_cache .ruff_cache
