# critmin: two commands on a fresh machine.
#   make run   create .venv, install, build the database from the shipped data, run the April 2025 scenario
#              and write its report (out/report-apr2025-heavy-ree.html)
#   make test  create .venv with test extras, run pytest, ruff and mypy
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/critmin data build
	$(BIN)/critmin run apr2025-heavy-ree
	$(BIN)/critmin report apr2025-heavy-ree -o out/report-apr2025-heavy-ree.html

test: $(STAMP_TEST)
	$(BIN)/python -m pytest -n 2 --dist worksteal   # two workers: the project's machine has two cores
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

lint: $(STAMP_TEST)
	$(BIN)/ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
