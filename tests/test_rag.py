"""The RAG baselines (nodes/rag.py): SKR retrieves only when the strong model says it needs to, FLARE
retrieves for each sentence it is unsure of (token probabilities, or every sentence without them);
retrievals are stored and reused like model calls; BM25 over a corpus file is a LangChain retriever."""

import json
import sqlite3

import pytest
from conftest import write_jsonl
from langchain_core.retrievers import BaseRetriever
from scripted_server import ScriptedServer

from cowest.cli import main
from cowest.nodes.retrievers import BM25Retriever, corpus_retriever, read_corpus, registered

PASSAGES = [
    {"id": "p-fr", "text": "Paris is the capital of France and lies on the Seine."},
    {"id": "p-it", "text": "Rome is the capital of Italy, on the Tiber."},
    {"id": "p-jp", "text": "Mount Fuji is the highest mountain in Japan."},
]
QUESTIONS = [  # the capital questions need a lookup (the script says so); the mountain one is known
    {"id": "q1", "question": "What is the capital of France?", "answer": "Paris"},
    {"id": "q2", "question": "What is the capital of Italy?", "answer": "Rome"},
    {"id": "q3", "question": "Which is the highest mountain in Japan?", "answer": "Mount Fuji"},
]
ANSWERS = {"France": "Paris", "Italy": "Rome", "Japan": "Mount Fuji"}


def full_answer(prompt: str) -> str:
    place = next(p for p in ANSWERS if p in prompt.split("Question:")[-1])
    return f"Explanation: The answer is {ANSWERS[place]}. It is well known.\nAnswer: {ANSWERS[place]}"


def strong(prompt: str) -> str:
    """A strong model that writes its answer as FLARE asks: the continuation of what it has so far."""
    if "Known or Lookup" in prompt:
        return "Lookup" if "capital" in prompt else "Known"
    text = full_answer(prompt)
    if "do not repeat it):\n" in prompt:
        so_far = prompt.split("do not repeat it):\n", 1)[1].strip()
        return text[len(so_far) :].strip() if text.startswith(so_far) else text
    return text


def files(tmp_path):
    write_jsonl(tmp_path / "q.jsonl", QUESTIONS)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", PASSAGES)
    task = tmp_path / "qa.yaml"
    task.write_text('name: qa\ndata: q.jsonl\nid: id\nquery: "{{ question }}"\ngold: answer\n')
    return str(task), str(corpus)


def rows(db, role):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT prompt, output, reused_from FROM calls WHERE role = ?", (role,)).fetchall()


def test_bm25_over_a_corpus_file_is_a_langchain_retriever(tmp_path):
    _, corpus = files(tmp_path)
    name = corpus_retriever(corpus, k=2)
    retriever = registered(name)
    assert isinstance(retriever, BaseRetriever) and isinstance(retriever, BM25Retriever)
    docs = retriever.invoke("capital of Italy")
    assert docs[0].id == "p-it" and len(docs) == 2  # Paris's passage shares "capital"
    assert retriever.invoke("zebra quantum") == []  # no passage shares a word: nothing, not k at random
    assert corpus_retriever(corpus, k=2) == name  # built once per corpus content and k
    assert corpus_retriever(corpus, k=1) != name


@pytest.mark.slow
def test_skr_retrieves_only_when_the_strong_model_says_it_needs_to(tmp_path, db_url, monkeypatch, capsys):
    task, corpus = files(tmp_path)
    db = db_url.removeprefix("sqlite:///")
    base = ["eval", "--task", task, "--strong", "openai:scripted", "--db", db_url, "--corpus", corpus, "--json"]
    with ScriptedServer(strong) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        assert main([*base, "--methods", "strong-cot,skr"]) == 0
        by = {r["method"]: r for r in json.loads(capsys.readouterr().out)["results"]}
        assert by["skr"]["metrics"]["exact_match"] == 1.0 and by["skr"]["n"] == 3
        retrieved = rows(db, "retrieve")
        # the two capital questions were looked up, with the question as the query; the mountain was not
        assert sorted(json.loads(p)[-1]["content"] for p, _, _ in retrieved) == [
            "What is the capital of France?",
            "What is the capital of Italy?",
        ]
        assert all(json.loads(out)[0]["id"] in ("p-fr", "p-it") for _, out, _ in retrieved)
        answered = [json.loads(p)[-1]["content"] for p, _, _ in rows(db, "strong_rag")]
        assert len(answered) == 2 and all("Passages that may help" in a for a in answered)
        # the known one is the strong-CoT answer itself: 3 solo + 3 probes + 2 answers with passages
        assert len(srv.requests) == 8
        sent = len(srv.requests)
        assert main([*base, "--methods", "skr", "--run", "again"]) == 0  # another run: every call reused
        capsys.readouterr()
        assert len(srv.requests) == sent and all(r is not None for *_, r in rows(db, "retrieve")[2:])
    # Table 1's layout: the RAG rows in a section of their own, after the strong model alone
    assert main(["report", "--out", str(tmp_path / "report"), "--db", db_url]) == 0
    lines = [line.split(" |")[0] for line in (tmp_path / "report" / "report.md").read_text().splitlines()]
    at = {name: lines.index(f"| {name}") for name in ("**Strong only**", "strong-cot", "**RAG**", "skr")}
    assert at["**Strong only**"] < at["strong-cot"] < at["**RAG**"] < at["skr"]


@pytest.mark.slow
@pytest.mark.parametrize("with_logprobs", [True, False])
def test_flare_retrieves_for_the_sentences_it_is_unsure_of(with_logprobs, tmp_path, db_url, monkeypatch, capsys):
    task, corpus = files(tmp_path)
    db = db_url.removeprefix("sqlite:///")
    argv = ["eval", "--task", task, "--limit", "1", "--strong", "openai:scripted", "--db", db_url]
    argv += ["--corpus", corpus, "--methods", "flare", "--json"]
    with ScriptedServer(strong) as srv:
        srv.logprobs_for = {"known"} if with_logprobs else None  # "It is well known." is the unsure sentence
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        assert main(argv) == 0
        (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["metrics"]["exact_match"] == 1.0
    queries = [json.loads(p)[-1]["content"] for p, _, _ in rows(db, "retrieve")]
    if with_logprobs:
        # the question first; then the unsure sentence with its unsure token masked; the sure Answer: line stands
        assert queries == ["What is the capital of France?", "It is well"]
        asked = [r for r in srv.requests if r.get("logprobs")]  # the look-ahead sentences, written without passages
        assert len(asked) == 2 and not any("Passages that may help" in r["messages"][-1]["content"] for r in asked)
    else:  # no token probabilities: every sentence is retrieved for (the threshold at 1)
        assert queries == ["What is the capital of France?", "It is well known.", "Answer: Paris"]
    written = [json.loads(p)[-1]["content"] for p, _, _ in rows(db, "strong_rag")]
    assert len(written) == len(queries)  # each retrieval's sentence written again with what it found
    assert "Paris is the capital of France" in written[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra,says",
    [
        ([], "skr need --corpus FILE.jsonl"),
        (["--corpus", "CORPUS:bad"], "corpus.jsonl:2: not valid JSON"),
        (["--corpus", "CORPUS:missing"], "no such file"),
    ],
)
def test_a_rag_method_without_a_usable_corpus_is_bad_input_before_anything(
    extra, says, tmp_path, db_url, monkeypatch, capsys
):
    task, corpus = files(tmp_path)
    if extra:
        if extra[1].endswith("bad"):
            (tmp_path / "corpus.jsonl").write_text('{"id": 1, "text": "fine"}\n{broken\n')
            extra = ["--corpus", corpus]
        else:
            extra = ["--corpus", str(tmp_path / "none.jsonl")]
    with ScriptedServer(strong) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        argv = ["eval", "--task", task, "--strong", "openai:scripted", "--db", db_url, "--methods", "skr", *extra]
        assert main(argv) == 2
        assert says in capsys.readouterr().err and srv.requests == []
    assert not (tmp_path / "cowest.db").exists()


def test_a_corpus_passage_needs_text_and_a_unique_id(tmp_path):
    from cowest.nodes.retrievers import CorpusError

    write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: passage id 'a' appears twice"):
        read_corpus(str(tmp_path / "c.jsonl"))
    write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "title": "no text"}])
    with pytest.raises(CorpusError, match=r"d\.jsonl:1: a passage is"):
        read_corpus(str(tmp_path / "d.jsonl"))


@pytest.mark.slow
def test_a_plan_counts_flares_most_calls_and_sends_nothing(tmp_path, db_url, monkeypatch, capsys):
    from cowest.nodes.rag import MAX_SENTENCES

    task, corpus = files(tmp_path)
    with ScriptedServer(strong) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        argv = ["plan", "eval", "--task", task, "--strong", "openai:scripted", "--db", db_url, "--corpus", corpus]
        assert main([*argv, "--methods", "flare"]) == 0
        assert srv.requests == []
    to_send = {
        line.split()[2]: int(line.split()[-7]) for line in capsys.readouterr().out.splitlines() if "eval flare" in line
    }
    # every sentence written ahead (but the first), retrieved for and written again, for the 3 queries
    assert to_send == {
        "retrieve": 3 * MAX_SENTENCES,
        "strong_rag": 3 * MAX_SENTENCES,
        "flare_lookahead": 3 * (MAX_SENTENCES - 1),
    }
