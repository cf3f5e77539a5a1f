# The two commands a newcomer types (see README):
#   make train   set everything up, then train the seed network on Fashion-MNIST
#   make test    set everything up, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fastnn-installed
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: train test bench data install

install: $(STAMP)

$(STAMP): pyproject.toml peers/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench,mkl,sklearn,dask,peers]" -e ./peers
	touch $(STAMP)

# Fashion-MNIST from Debian's package where apt is usable; otherwise fastnn
# downloads it into ~/.cache/fastnn on first use (with SHA-256 verification).
data:
	@if [ -d $(FASHION_DIR) ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
		|| echo "apt could not install dataset-fashion-mnist; fastnn will download it"; \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
		(sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
		|| echo "apt could not install dataset-fashion-mnist; fastnn will download it"; \
	fi

train: $(STAMP) data
	$(BIN)/fastnn train

test: $(STAMP) data
	$(BIN)/python -m pytest -q --ignore=tests/cuda
	FASTNN_BLAS=$$($(BIN)/python -c "from fastnn.kernels import blas; print(blas.other_choice())") \
		$(BIN)/python -m pytest -q tests/test_kernels.py tests/test_training.py
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q tests/cuda
	cd asv_benchmarks && ../$(BIN)/asv machine --yes >/dev/null \
		&& FASTNN_BENCH_PROFILE=fast ../$(BIN)/asv run --python=same --quick --dry-run --show-stderr

bench: $(STAMP) data
	cd asv_benchmarks && ../$(BIN)/asv run --python=same --quick --show-stderr
