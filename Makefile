# The two commands: `make run` (the app on its embedded default) and `make test` (the whole suite).
# Both create or update the virtual environment themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test install browser lint typecheck bench clean-data

run: $(STAMP)
	$(BIN)/triptych serve

test: $(STAMP) browser
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest

# The browser tests drive Debian's chromium through Playwright (Playwright's own download is not used).
browser:
	@command -v chromium >/dev/null || { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

install: $(STAMP)

# llama-cpp-python has no wheel on PyPI: it is built from source once (about 6 minutes on 2 cores) into a
# folder named after its version and build flags, and installed from there. Portable x86-64 flags, not
# -march=native: a native build on a CPU that advertises AMX (which a VM may not let a process use) dies with
# "Illegal instruction" on the first prompt, and pip's own wheel cache would hand that build to any machine.
# The same pin as in pyproject.toml.
LLAMA_CPP := llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF
LLAMA_WHEELS := $(HOME)/.cache/triptych/wheels/$(shell printf '%s %s' '$(LLAMA_CPP)' '$(LLAMA_CMAKE_ARGS)' | sha1sum | cut -c1-12)

# torch is installed first and pinned to the CPU wheel: a looser pin pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	$(BIN)/pip install --quiet torch==2.13.0
	ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' \
		$(BIN)/pip wheel --quiet --no-deps --no-cache-dir '$(LLAMA_CPP)' -w $(LLAMA_WHEELS)
	$(BIN)/pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/localmodel.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/leaderboard.py
	$(BIN)/python bench/experiment.py
	$(BIN)/python bench/finetune.py

clean-data:
	rm -rf data
