# billow: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/shear_layer

.PHONY: run test lint validate bench bench-peers install clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,viz,sweep,fftw]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/billow run shear_layer --out $(RUN_DIR) --overwrite

# one pytest worker per core; a test file's tests stay on one worker (its fixtures made once)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

validate: $(STAMP)
	$(BIN)/python -m pytest -q -m slow
	$(BIN)/python examples/validation_report.py --out docs
	$(BIN)/python examples/kh2d_study.py --out docs

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_solver.py
	$(BIN)/python benchmarks/bench_sweep.py

# kh2d-solver and FluidSim from PyPI, each in its own venv under PEERS_DIR (made once,
# reused), run side by side with billow on one thread; ~20-30 min; not part of `make test`
PEERS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/billow-bench-peers
bench-peers: $(STAMP)
	$(BIN)/python benchmarks/bench_peers.py --peers-dir "$(PEERS_DIR)" $(BENCH_PEERS_ARGS)

clean:
	rm -rf $(VENV) runs
