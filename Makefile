# `make demo` and `make test` create .venv with the pinned requirements when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed

.PHONY: demo test lint bench venv serve

venv: $(STAMP)

$(STAMP): requirements.txt requirements-no-deps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-no-deps.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python demo.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python bench/extract.py

# The HTTP service and the annotation page on http://$(HOST):$(PORT); tokens from TPL_API_TOKEN
# (SERVE_FLAGS=--no-auth serves loopback without one).
HOST ?= 127.0.0.1
PORT ?= 8000
SERVE_FLAGS ?=
serve: $(STAMP)
	$(BIN)/python serve.py --host $(HOST) --port $(PORT) $(SERVE_FLAGS)

# A small study of the query strategies on simulated listeners (synthetic corpus, 8 listeners; seed 7,
# so its songs are not those the default committee was trained on, seed 0); the report lands in
# data/simulate/report/ (summary.md, results.csv, curve_*.png).
SIMULATE_DIR := data/simulate
.PHONY: simulate
simulate: $(STAMP)
	test -f $(SIMULATE_DIR)/corpus/listeners/crowd.json || { rm -rf $(SIMULATE_DIR)/corpus && \
	  $(BIN)/python make_synthetic_deam.py -o $(SIMULATE_DIR)/corpus -n 60 --duration 20 \
	  --annotation-start 0 --listeners 8 --seed 7; }
	$(BIN)/python extract_features.py -i $(SIMULATE_DIR)/corpus/DEAM_audio/MEMD_audio \
	  -o $(SIMULATE_DIR)/feats -j 2
	$(BIN)/python simulate.py --feats $(SIMULATE_DIR)/feats --labels $(SIMULATE_DIR)/corpus/listeners/labels.csv \
	  --crowd $(SIMULATE_DIR)/corpus/listeners/crowd.json --strategies mc,hc,mix,rand --iterations 5 \
	  --queries 5 --min-annotations 50 --test-size 0.15 --seeds 1 --rounds 20 -j 2 -o $(SIMULATE_DIR)/report

# The default committee in models/pretrained: the musicnn-lean recipe trained on the 4Q emotion dataset's
# development clips (labels, IS13 features and audio in ../shared/data/4q-dev; folds grouped by artist).
# Its IS13 CSVs are copied once into $(FOURQ_FEATS) and completed with the other families from the audio.
FOURQ ?= ../shared/data/4q-dev
FOURQ_FEATS ?= data/4q-dev-feats
FOURQ_NOTE := 4Q audio emotion dataset (Panda, Malheiro and Paiva, Novel audio features for music emotion \
	recognition, IEEE Transactions on Affective Computing, 2018): 600 of its 900 clips, 150 per quadrant, \
	AllMusic mood-tag labels; IS13 features by extract_features.py from the original files, vibenet and \
	musicnn features by extract_features.py --add from the 64 kbps mono mp3 previews
PRETRAIN_THREADS ?= 0
.PHONY: pretrained
pretrained: $(STAMP)
	@test -f $(FOURQ)/labels.csv -a -d $(FOURQ)/feats || { echo "make pretrained: no labels.csv and feats/ in \
	$(FOURQ); set FOURQ=<folder of the 4Q development set>" >&2; exit 1; }
	mkdir -p $(FOURQ_FEATS) && cp -n $(FOURQ)/feats/*.csv $(FOURQ_FEATS)/
	$(BIN)/python extract_features.py --add -i $(FOURQ)/audio -o $(FOURQ_FEATS)
	$(BIN)/python deam_classifier.py --labels $(FOURQ)/labels.csv --feats $(FOURQ_FEATS) --group-column artist \
		-cv 5 --recipe musicnn-lean --replace-pretrained --threads $(PRETRAIN_THREADS) --note "$(FOURQ_NOTE)"

# The committee the port shipped before: the original recipe on a synthetic DEAM-format corpus, rebuilt
# from scratch into models/synthetic (the corpus and its feature cache in data/synthetic-deam first).
SYNTHETIC_DEAM := data/synthetic-deam
SYNTHETIC_NOTE := synthetic DEAM-format corpus, not real music and not DEAM: 200 numpy-rendered 45 s \
	excerpts from make_synthetic_deam.py -n 200 --seed 0 (make pretrained-synthetic)
.PHONY: pretrained-synthetic
pretrained-synthetic: $(STAMP)
	rm -rf $(SYNTHETIC_DEAM)
	$(BIN)/python make_synthetic_deam.py -o $(SYNTHETIC_DEAM) -n 200 --seed 0 --duration 45
	$(BIN)/python deam_classifier.py --deam $(SYNTHETIC_DEAM) -cv 5 --recipe original -o models/synthetic \
		--threads $(PRETRAIN_THREADS) --note "$(SYNTHETIC_NOTE)"
