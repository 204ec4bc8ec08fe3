# Two commands for a new user: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench data setup clean

setup: $(STAMP)

# Re-install when the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The catalogue ships the 50 EvoApproxLib 8x8 circuits: nothing is needed beside the repository.
run: $(STAMP)
	$(PY) -m xaigen.cli run $(ARGS)

test: $(STAMP)
	$(PY) -m pytest --durations=15 $(PYTEST_ARGS)

# Everything but the tests marked slow (the SIGKILL/resume test): for quick local iterations.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/emulation.py

# Optional: real Fashion-MNIST for the LeNet-5/ResNet presets (Debian package, needs root).
data:
	apt-get install -y dataset-fashion-mnist

clean:
	rm -rf $(VENV) build *.egg-info
