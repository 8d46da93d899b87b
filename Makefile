# Every target works on a fresh machine: `install` builds .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared

.PHONY: install test demo bench lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch and torchvision come as the pinned pair that works together on these machines.
	$(BIN)/pip install --quiet -e '.[dev]'
	# These two pin ancient torch releases; their code runs on ours, so skip their pins.
	$(BIN)/pip install --quiet --no-deps facenet-pytorch==2.6.0 retinaface-pytorch==0.0.8
	touch $@

test: install
	$(BIN)/python -m pytest

# The main job on an embedded default: 200 fakes from the LFW faces in ../shared.
demo: install
	$(BIN)/moderation synth --real $(SHARED)/data/faces/lfw --out out/demo --count 200 \
		--seed 0 --workers 2

bench: install
	$(BIN)/python bench/synth.py
	$(BIN)/python bench/faces.py
	$(BIN)/python bench/identity.py

lint: install
	$(BIN)/ruff check moderation tests bench
