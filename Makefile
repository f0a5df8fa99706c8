# Two commands: `make run` (set up, train the default recipe, write its report) and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
RECIPE  ?= recipes/tp1-mlp.toml
FMNIST  := /usr/share/datasets/fashion-mnist

.PHONY: run test setup data bench clean

$(BIN)/trainlab: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0   # the local CPU wheel; any other version downloads gigabytes
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/trainlab data

# Fashion-MNIST comes from Debian's package; installed when missing and we may (root + apt).
data:
	@if [ ! -d $(FMNIST) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else echo "Fashion-MNIST missing: run 'sudo apt-get install dataset-fashion-mnist' or set data.path in the recipe"; fi; \
	fi

run: setup
	$(BIN)/trainlab run $(RECIPE)

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/tp1_cpu.py

clean:
	rm -rf $(VENV) runs .pytest_cache
