# Two commands work on a fresh machine: `make demo` and `make test`. Both set up .venv first.
.PHONY: setup demo test test-fast lint bench bench-scale bench-window notebooks clean

VENV := .venv
BIN := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL := 3
DEMO_SPANS ?= 1:3

setup:
	@bash scripts/setup_venv.sh

demo: setup
	$(BIN)/lifecycle data prepare
	$(BIN)/lifecycle run --spans $(DEMO_SPANS)
	$(BIN)/lifecycle drift
	$(BIN)/lifecycle report
	$(BIN)/lifecycle runs

# ruff, the layer contract (pyproject.toml [tool.importlinter], checked on the installed
# layout), then every test tier.
test: setup
	$(BIN)/ruff check .
	bash scripts/lint_imports.sh
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not e2e"

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m benchmarks.pipeline_wall
	$(BIN)/python -m benchmarks.drift_cost
	$(BIN)/python -m benchmarks.serving

# StatisticsGen and Transform rows/s, in-memory vs multi-processing Beam, on 1M rows (~10 min).
bench-scale: setup
	$(BIN)/python -m benchmarks.scale

# Training window and model family on taxi spans 1-8: the candidate's AUC per span for each
# variant, the pushed count and run time (~30 min; README "Training on a window of spans").
bench-window: setup
	$(BIN)/python -m benchmarks.window_spans

# Runs the four notebooks against the project config's store (after `make demo`) into
# work/notebooks/: executed .ipynb plus a static .html of each.
notebooks: setup
	$(BIN)/jupyter nbconvert --to notebook --execute --output-dir work/notebooks notebooks/*.ipynb
	$(BIN)/jupyter nbconvert --to html --output-dir work/notebooks work/notebooks/*.ipynb

clean:
	rm -rf work
