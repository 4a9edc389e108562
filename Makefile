# Two set-up commands: `make run` (environment + the main job, utilities/explain/main_job.py) and `make test`
# (environment + lint + every test, the slow ones included: what CI runs). `make test-fast`
# leaves out the tests marked slow, `make test-slow` runs only those.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python

.PHONY: env run test test-all test-fast test-slow lint bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

env: $(VENV)/.installed

run: env
	$(PY) -m utilities.explain.main_job

lint: env
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q -m "slow or not slow"

test-all: test

test-fast: lint
	$(PY) -m pytest -q

test-slow: env
	$(PY) -m pytest -q -m slow

bench: env
	$(PY) bench/models_bench.py
	$(PY) bench/dataset_bench.py
	$(PY) bench/training_bench.py
	$(PY) bench/explain_bench.py
	$(PY) bench/explain_methods_bench.py
	$(PY) bench/explain_precision_bench.py
	$(PY) bench/explain_logging_bench.py
	$(PY) bench/finetune_run_bench.py
	$(PY) bench/features_svm_bench.py
	$(PY) bench/style_transfer_bench.py
	$(PY) bench/autoencoder_bench.py
	$(PY) bench/domain_adaptation_bench.py
	$(PY) bench/gan_bench.py
