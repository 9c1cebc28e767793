# Two commands matter: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Second environment: the runtime on tflite-runtime with numpy<2, as many Pi images have it.
VENV_TFLRT := .venv-tflite-runtime
STAMP_TFLRT := $(VENV_TFLRT)/.installed

.PHONY: demo test test-fast test-tflite-runtime lint bench-toolchain bench-runtime bench-bridge bench-preprocess bench-models bench-retrieval bench-captioning bench-index bench-updates soak seek-bundle zoo clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[host,broker,test,fast-json]"
	touch $(STAMP)

$(STAMP_TFLRT): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV_TFLRT)
	$(VENV_TFLRT)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_TFLRT)/bin/python -m pip install --quiet "numpy<2" "tflite-runtime==2.14.*" "pytest>=8" "pytest-timeout>=2.3" pyyaml
	$(VENV_TFLRT)/bin/python -m pip install --quiet --no-deps -e .
	touch $(STAMP_TFLRT)

demo: $(STAMP)
	$(PY) -m edge_sdk.cli demo

test: $(STAMP)
	$(PY) -m pytest --durations=15

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

# The inference backend on tflite-runtime (numpy<2) instead of ai-edge-litert; the main venv's TensorFlow
# builds the small models of tests/backends first.
test-tflite-runtime: $(STAMP_TFLRT) $(STAMP)
	$(PY) tests/backends/build_models.py build/test-models
	EDGE_SDK_BACKEND=tflite_runtime EDGE_SDK_TEST_MODELS=build/test-models $(VENV_TFLRT)/bin/python -m pytest \
		-p no:cacheprovider --noconftest tests/runtime/test_backend.py tests/backends

lint: $(STAMP)
	$(PY) -m ruff check edge_sdk converters firmware_bridge bench tests examples
	$(PY) -m mypy edge_sdk firmware_bridge converters

bench-toolchain: $(STAMP)
	$(PY) bench/toolchain.py

bench-runtime: $(STAMP)
	$(PY) bench/runtime.py

bench-bridge: $(STAMP)
	$(PY) bench/bridge.py $(BENCH_BRIDGE_ARGS)

bench-preprocess: $(STAMP)
	$(PY) bench/preprocess.py

bench-models: $(STAMP)
	$(PY) bench/models.py

# Trains the dual encoder on seek captions (cached in work/bench-retrieval) and scores its bundles through edge_sdk;
# then the device index with that int8 bundle (bench/index.py), whose last line merges both JSON objects.
bench-retrieval: $(STAMP)
	mkdir -p work/bench-retrieval
	$(PY) bench/retrieval.py > work/bench-retrieval/host.out && cat work/bench-retrieval/host.out
	$(PY) bench/index.py --bundle-from-retrieval --merge-json work/bench-retrieval/host.out

# Captioner, image-conditioned and text-only translators on seek scenes (issue 12; data cached in
# work/bench-captioning): BLEU-4/CIDEr-D through the device bundle, float32 and int8, beam parity, masked-source gain.
bench-captioning: $(STAMP)
	mkdir -p work/bench-captioning
	$(PY) bench/captioning.py $(BENCH_CAPTIONING_ARGS) > work/bench-captioning/bench.out && cat work/bench-captioning/bench.out

# The device's rolling index (issue 11): text query latency at 10k/100k, size, start-up, ingest, fps ratio.
# BUNDLE=path uses that retrieval bundle; without it a tiny dual encoder is trained first (needs TensorFlow).
bench-index: $(STAMP)
	$(PY) bench/index.py $(if $(BUNDLE),--bundle $(BUNDLE))

# A long run on a looping video against a Mosquitto restarted every SOAK_RESTART_S seconds: RSS, fds,
# threads, outbox and every counter; the last line is JSON. SOAK_S=300 SOAK_RESTART_S=60 make soak
soak: $(STAMP)
	SOAK_S=$${SOAK_S:-1200} SOAK_RESTART_S=$${SOAK_RESTART_S:-180} $(PY) bench/soak.py

# Signed updates: power cuts, tampered inputs, rollback, the swap, a fleet rollout (~30 min on 2 busy cores).
bench-updates: $(STAMP)
	$(PY) bench/updates.py

# Rebuilds the small seek bundle kept in the repo for TensorFlow-free tests, with the recipe that ships:
# touching shapes and no border margin in the data, 80 epochs at most (docs/training.md; about 10 min on 2 cores).
seek-bundle: $(STAMP)
	$(PY) -m edge_sdk.cli build-seek-bundle --touching 0.3 --zone-margin 0 --epochs 80 --out edge_sdk/data/seek_int8.tflite

# Rebuilds the model zoo kept in tests/fixtures/zoo (seven tiny TFLite models and zoo.json, ~10 s).
zoo: $(STAMP)
	$(PY) -m edge_sdk.cli build-zoo tests/fixtures/zoo

clean:
	rm -rf $(VENV) $(VENV_TFLRT) build *.egg-info
