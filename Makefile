# `make test` and `make demo` do all set-up on a fresh machine (Debian packages, a venv, pinned deps).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LIB ?= data/library
STAMP := $(VENV)/.installed
# the Khronos glTF validator (npm, pinned by package-lock.json) that the tests run on every GLB
VALIDATOR := tools/gltf-validator/node_modules/.package-lock.json

.PHONY: setup test demo bench clean

setup: $(STAMP) $(VALIDATOR)

# setup.py and the C file: the editable install compiles retrieval's grid search (scenewright/geometry/_grid_nearest.c)
$(STAMP): pyproject.toml setup.py scenewright/geometry/_grid_nearest.c requirements.txt scripts/setup-system.sh
	bash scripts/setup-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(VALIDATOR): tools/gltf-validator/package.json tools/gltf-validator/package-lock.json scripts/setup-system.sh
	bash scripts/setup-system.sh
	npm ci --prefix tools/gltf-validator --no-audit --no-fund --silent

test: setup
	$(PY) -m pytest -q

demo: setup
	$(PY) -m scenewright demo --library $(LIB) -o out/demo --overwrite

bench: setup
	$(PY) benchmarks/bench_layout.py --library $(LIB)
	$(PY) benchmarks/bench_methods.py --library $(LIB) $(if $(MIDI_WEIGHTS),--midi-weights $(MIDI_WEIGHTS))

clean:
	rm -rf out
