# The two commands of the README: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export WRANGLER_SEND_METRICS := false

.PHONY: demo test fuzz bench setup clean

demo: setup
	$(PY) -m intentedge_jobs.demo

test: setup
	$(PY) -m pytest

# 100,000 generated inputs per fuzz target; FUZZ_ARGS="-n 5000 --target fragments.render -j 2" for less.
fuzz: $(VENV)/.installed
	$(PY) -m fuzz.run $(FUZZ_ARGS)

# intentedge against JS/Python reference Workers and GrowthBook's edge app behind nginx, driven by
# wrk (about 12 minutes; installs nginx and wrk with apt-get when missing). Writes bench/results/.
# BENCH_ARGS="--rounds 1 --duration 2 --pages 100k" for a quick look.
bench: setup $(VENV)/.bench
	$(PY) bench/compare.py $(BENCH_ARGS)

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@touch $@

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

clean:
	rm -rf $(VENV) node_modules build .wrangler .pytest_cache .hypothesis
