# One-command setup. `make demo` and `make test` create .venv on first use (pinned versions from
# requirements.txt) and are fast on later runs: the venv is rebuilt only when requirements.txt or
# setup.py change.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1

.PHONY: venv demo test test-slow bench clean

venv: $(STAMP)

$(STAMP): requirements.txt setup.py
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=23.2" 2>/dev/null || true
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/planner demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -m slow

clean:
	rm -rf $(VENV) out runs .pytest_cache
