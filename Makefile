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

.PHONY: help install test demo up down validate lint fmt lock bench clean

help:
	@echo "make demo      run every pipeline against the local stack and print what it did"
	@echo "make test      run the whole test suite"
	@echo "make up        Airflow UI on http://localhost:$${BACKSTOP_PORT:-8080} against the local stack (background)"
	@echo "make down      stop every process make up started"
	@echo "make validate  check include/backup_policy.yaml (or BACKSTOP_POLICY_FILE)"
	@echo "make lint      ruff check + format check"
	@echo "make bench     print every benchmark's figures (parse, retention, triggerer, fleet: ~10 min)"

$(STAMP): requirements-lock.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements-lock.txt
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

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

clean:
	-$(BIN)/python -m include.local.up down 2>/dev/null
	rm -rf .local .pytest_cache .ruff_cache
