# Every target sets itself up: a torch that is already installed is kept (bring your own CUDA
# build); otherwise the CPU wheel torch==2.13.0 is installed.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install test quickstart lint bench

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install "torch==2.13.0"
	$(PIP) install -q -e ".[dev,onnx,photos,faces]"

test: install
	$(PYTHON) -m pytest -q

quickstart: install
	otmark quickstart

lint: install
	ruff check .

bench: install
	$(PYTHON) benchmarks/loss.py
