# The two commands of README: `make run` (set up, then train the lab's default run) and
# `make test` (set up, then pass the tests). Both start from a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
SOURCES := pyproject.toml $(shell find runner hydra_plugins -type f -not -path '*/__pycache__/*' 2>/dev/null)

.PHONY: setup run test lint bench

setup: $(VENV)/.installed

# a regular (not editable) install: what users get, config tree and data shipped in the package
$(VENV)/.installed: $(SOURCES)
	bash scripts/ensure_java.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --force-reinstall --no-deps . && $(PY) -m pip install -q ".[test]"
	touch $@

run: setup
	$(VENV)/bin/runner $(ARGS)

# Two pytest-xdist workers, each taking a whole test file at a time: a file's module fixtures
# (servers, trained stores) start once, and the suite's subprocess start-ups and waits overlap.
# --no-loadscope-reorder: xdist 3 otherwise queues files by their number of tests, most first,
# which ignores tests/conftest.py's SLOWEST_FIRST and left the few-test, minutes-long end-to-end
# files (engines, tracking server, sweeps) for the end, on one worker while the other idled.
# PYTEST_WORKERS= runs everything in this one process.
PYTEST_WORKERS ?= -n 2 --dist loadfile --no-loadscope-reorder

test: setup
	bash scripts/ensure_test_tools.sh
	$(PY) -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check runner hydra_plugins tests benchmarks
	$(VENV)/bin/mypy runner hydra_plugins

bench: setup
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done
