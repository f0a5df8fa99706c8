# Two commands: `make run` (set up, train the default recipe, write its report) and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
RECIPE  ?= recipes/tp1-mlp.toml
FMNIST  := /usr/share/datasets/fashion-mnist

.PHONY: run test setup data browser apt bench clean

$(BIN)/trainlab: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0   # the local CPU wheel; any other version downloads gigabytes
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/trainlab data

# Debian packages: Fashion-MNIST (data) and, for the browser test of the reports, Chromium.
# Installed when missing and we may (root + apt); otherwise the tests that need them are skipped.
APT_NEEDS = $(if $(wildcard $(FMNIST)),,dataset-fashion-mnist)
data:
	@$(MAKE) --no-print-directory apt PKGS="$(APT_NEEDS)"

browser:
	@$(MAKE) --no-print-directory apt PKGS="$(if $(shell command -v chromium),,chromium)"

apt:
	@if [ -n "$(strip $(PKGS))" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PKGS) >/dev/null; \
	  else echo "missing Debian packages: $(PKGS) (sudo apt-get install $(PKGS))"; fi; \
	fi

run: setup
	$(BIN)/trainlab run $(RECIPE)

test: setup browser
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/engine_vs_peers.py

clean:
	rm -rf $(VENV) runs .pytest_cache
