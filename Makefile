# The README's two commands are `make demo` and `make test`; everything else is a helper.
# A fresh machine needs only python3 (3.11+), a Rust toolchain and network access to
# PyPI and crates.io: the virtualenv, the extension build and the extras are scripted here.
VENV   ?= .venv
PY     := $(abspath $(VENV))/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export VIRTUAL_ENV := $(abspath $(VENV))
# uv's cache (~/.cache/uv) keeps the heavy wheels (torch, ~3 GB) between runs, hard-linked into .venv.
PYTEST_ARGS ?=

.PHONY: demo test test-slow test-rust test-python lint build deps bench clean-build

$(VENV)/.deps-stamp: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip install -q --python $(PY) -r pyproject.toml --extra dev --extra train --extra qlora --extra dist
	touch $@

deps: $(VENV)/.deps-stamp

build: deps
	$(VENV)/bin/maturin develop --release --uv -q

demo: build
	$(VENV)/bin/tunesmith demo --out demo-out

test-rust: deps
	cargo test --workspace --locked -q
	cargo clippy --workspace --all-targets --locked -q -- -D warnings

test-python: build
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test: test-rust test-python

test-slow: build
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

lint: test-rust
	cargo fmt --all --check

# Side-by-side benchmarks against the peer tools (each prints medians and ratios measured in one run).
# The cleaning benches generate their corpus with ../shared/bench/make_corpus.py when it is present.
bench: build
	$(VENV)/bin/uv pip install -q --python $(PY) -r pyproject.toml --extra bench
	$(PY) benches/bench_seed_sweep.py
	$(PY) benches/bench_estimate_sweep.py
	$(PY) benches/bench_dedup.py --size-mb 50
	$(PY) benches/bench_repetition.py
	$(PY) benches/bench_pii.py
	$(PY) benches/bench_pipeline.py --size-mb 50 --peer-mb 3
	$(PY) benches/bench_tune.py --steps 30 --repeats 2
	$(PY) benches/error_table.py

clean-build:
	rm -rf target $(VENV)
