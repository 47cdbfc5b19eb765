"""Any LangChain provider as the strong model and judge (and even the weak one), through
init_chat_model: a stand-in langchain_ollama package answers from a script (no network)."""

import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import write_jsonl
from scripted_server import kind_of
from test_collect_graph import mcq, script, scripted_collect
from test_pairs import assert_stored_pairs_are_algorithm_1

from cowest.cli import main
from cowest.collect import collect, exit_code
from cowest.models import clear_models
from cowest.storage import get_store

PROVIDERS = str(Path(__file__).parent / "providers")


@pytest.fixture
def ollama(monkeypatch):
    """The stand-in provider package, first on sys.path, with the scripted strong model's answers."""
    monkeypatch.syspath_prepend(PROVIDERS)
    for name in [m for m in sys.modules if m.startswith("langchain_ollama")]:
        monkeypatch.delitem(sys.modules, name)
    from langchain.chat_models.base import _get_chat_model_creator

    _get_chat_model_creator.cache_clear()  # LangChain caches each provider's class
    import langchain_ollama

    langchain_ollama.SCRIPT = script
    langchain_ollama.CALLS.clear()
    clear_models()
    yield langchain_ollama
    _get_chat_model_creator.cache_clear()
    clear_models()


@pytest.fixture
def data(tmp_path):
    return str(write_jsonl(tmp_path / "mcq.jsonl", [mcq(i, f"Question number {i}?") for i in range(3)]))


def test_a_langchain_provider_is_the_strong_model_and_the_judge(ollama, data, tiny_model, db_url, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    summary = collect(scripted_collect(data, tiny_model, db_url, strong="ollama:big"), progress=False)
    assert exit_code(summary) == 0 and summary.failed_calls == 0
    judged = [c["prompt"] for c in ollama.CALLS if kind_of(c["prompt"]) == "judge"]
    assert Counter(kind_of(c["prompt"]) for c in ollama.CALLS)["solo"] == 3
    assert len(set(judged)) >= 4  # the solo answers' and the refinements' judgments
    assert {c["model"] for c in ollama.CALLS} == {"big"} and {c["temperature"] for c in ollama.CALLS} == {0.0}
    assert summary.spending.sent == len(ollama.CALLS)
    assert_stored_pairs_are_algorithm_1(get_store(db_url), "t", 4)
    calls = get_store(db_url).calls_of(get_store(db_url).run_id("t"))
    assert {c.model for c in calls if c.role != "weak_draft"} == {"ollama:big"}

    sent = len(ollama.CALLS)  # a second run over the same queries reuses the solo answers (content keys)
    collect(scripted_collect(data, tiny_model, db_url, strong="ollama:big", run="t2"), progress=False)
    assert not [c for c in ollama.CALLS[sent:] if kind_of(c["prompt"]) == "solo"]


def test_a_provider_without_n_is_sent_k_requests_for_k_samples(ollama, data, tiny_model, db_url):
    opts = scripted_collect(data, tiny_model, db_url, weak="ollama:small", strong="ollama:big", samples=3)
    summary = collect(opts, progress=False)
    assert exit_code(summary) == 0 and summary.drafts == 9
    drafts = [c for c in ollama.CALLS if c["model"] == "small"]
    assert len(drafts) == 9 and all(c["temperature"] == 1.0 and c["top_p"] == 0.9 for c in drafts)
    assert Counter(c["prompt"] for c in drafts) == Counter({p: 3 for p in {c["prompt"] for c in drafts}})


def test_a_missing_provider_package_is_one_line_naming_it_and_exit_2(data, tiny_model, db_url, capsys):
    pytest.importorskip("langchain")
    if __import__("importlib.util").util.find_spec("langchain_anthropic"):
        pytest.skip("langchain-anthropic is installed here")
    argv = ["collect", "--task", "medmcqa", "--data", data, "--weak", f"huggingface:{tiny_model}", "--db", db_url]
    assert main(argv + ["--strong", "anthropic:claude-sonnet-4-5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install langchain-anthropic" in err[0]
    assert main(argv + ["--strong", "nosuchprovider:model"]) == 2
    assert "nosuchprovider" in capsys.readouterr().err
    assert get_store(db_url).runs() == []  # nothing was written
