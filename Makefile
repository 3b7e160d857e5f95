# jaxlmg — one-command setup. Every target creates the virtual environment first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.jaxlmg-installed

.PHONY: install reproduce test bench bench-quick clean clean-cache

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## The main job: recompute the papers' numbers and figures into report/
reproduce: $(STAMP)
	$(PY) -m jaxlmg reproduce --out report

## The test suite (what CI runs). --reruns 1 is a safety net only: the worker crashes it was added for
## (about two per run until session 9) were processes running out of memory maps, fixed since (README
## "Known issues"). -rR names every rerun test in the summary: read a rerun as a failure to explain
## (session 12: a one-ulp batch dependence failed twice; one unnamed rerun in its clean-clone CI).
## Not --dist loadgroup: after a worker crash its replacement received no work and the run hung.
test: $(STAMP)
	$(PY) -m pytest -n 2 -q -rR --durations=15 --reruns 1

## Benchmarks against scipy (QuTiP/dynamiqs too if installed: pip install -e ".[bench]")
bench: $(STAMP)
	$(PY) -m benchmarks run

bench-quick: $(STAMP)
	$(PY) -m benchmarks run --quick

## jaxlmg's persistent XLA compilation cache (see README, "Compilation cache")
CACHE_PATH := $(or $(JAXLMG_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/jaxlmg/jax)

clean-cache:
	rm -rf "$(CACHE_PATH)"

clean: clean-cache
	rm -rf $(VENV) report .pytest_cache .hypothesis
