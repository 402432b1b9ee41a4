# make demo | make test | make test-slow | make bench — each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench reproduce notebooks clean

# (Re)install when pyproject.toml changes; otherwise reuse the environment.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job, ending in a report: the notes checked by enumeration; CD-1, PCD-1 and parallel
# tempering on bars-and-stripes 4×4 over several seeds with the exact likelihood; AIS against the
# exact log Z; the backprop check; timings. Writes runs/demo/<time>/report.html (figures embedded)
# and prints its path and a five-line summary (about a minute on two CPU cores).
demo: $(STAMP)
	$(BIN)/python experiments/demo_report.py

# Every recorded result in the README, in full (tens of minutes on two CPU cores).
reproduce: $(STAMP)
	$(BIN)/python experiments/gibbs_convergence.py
	$(BIN)/python experiments/grad_check.py
	$(BIN)/python experiments/train_rbm.py --config bas4
	$(BIN)/python experiments/train_rbm.py --config modes
	$(BIN)/python experiments/train_rbm.py --config digits
	$(BIN)/python experiments/digits_vs_sklearn.py
	$(BIN)/python experiments/gradient_bias.py
	$(BIN)/python experiments/gaussian_digits.py
	$(BIN)/python experiments/categorical_sequences.py
	$(BIN)/python experiments/centering.py
	$(BIN)/python experiments/nonreversible_pt.py

# The five notebooks executed, figures embedded, into runs/notebooks/ (open them with
# `.venv/bin/jupyter lab runs/notebooks/`); about half a minute.
notebooks: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --output-dir runs/notebooks notebooks/*.ipynb

# Tests run on every core (pytest-xdist): on two cores this halves the (compile-bound) wall time.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n auto -m slow

# Side-by-side timings in one process (sampling, families, training, memory), written to
# benchmarks/results/bench.{json,md}; then the accelerator script's quick mode, here on the CPU;
# then what sharding costs on a simulated 4-device CPU mesh (sharding_overhead.{json,md}).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/gpu.py --quick
	$(BIN)/python benchmarks/sharding_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .jax_cache
