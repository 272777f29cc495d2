# `make demo` and `make test` create .venv with the pinned requirements when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed

.PHONY: demo test lint bench venv

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p data/demo
	$(BIN)/python -m tests.signals data/demo/clip.wav
	$(BIN)/python extract_features.py -i data/demo/clip.wav -o data/demo/clip.csv
	@echo "features: $(CURDIR)/data/demo/clip.csv"

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python bench/extract.py
