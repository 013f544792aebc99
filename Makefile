# The two commands of the README: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export WRANGLER_SEND_METRICS := false

.PHONY: demo test fuzz setup clean

demo: setup
	$(PY) -m intentedge.jobs.demo

test: setup
	$(PY) -m pytest

# 100,000 generated inputs per fuzz target; FUZZ_ARGS="-n 5000 --target fragments.render -j 2" for less.
fuzz: $(VENV)/.installed
	$(PY) -m fuzz.run $(FUZZ_ARGS)

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
