"""Collect mode end to end: tiny local weak model, scripted OpenAI-compatible strong model and judge."""

from collections import Counter, defaultdict

import pytest
import torch
from conftest import write_jsonl
from scripted_server import kind_of, section
from test_pairs import assert_stored_pairs_are_algorithm_1

from cowest.collect import CollectOptions, collect
from cowest.core import copy_as
from cowest.storage import get_store

pytestmark = pytest.mark.slow  # starts servers or trains


def script(prompt: str) -> str:
    kind = kind_of(prompt)
    if kind == "judge":
        if "NOJUDGE" in prompt:
            return "That looks quite good to me."
        out = section(prompt, "Model output:")
        return "10" if "Answer: A" in out else "6" if "Answer: B" in out else "1"
    if kind == "refine":
        draft = section(prompt, "Expert model's answer:")
        return f"Explanation: built on the draft.\nAnswer: {'ABC'[sum(draft.encode()) % 3]}"
    if "NOJUDGE" in prompt:  # the judge sees this answer, not the question: carry the marker over
        return "Explanation: NOJUDGE.\nAnswer: B"
    if "[solo-top]" in prompt:
        return "Explanation: well known.\nAnswer: A"
    return "Explanation: a guess.\nAnswer: B"


def mcq(i: int, question: str) -> dict:
    return {
        "id": f"q{i}",
        "question": question,
        "opa": "alpha",
        "opb": "beta",
        "opc": "gamma",
        "opd": "delta",
        "cop": 1,
        "exp": "",
        "choice_type": "single",
        "subject_name": "",
        "topic_name": "",
    }


@pytest.fixture
def server(serve):
    return serve(script)


def scripted_collect(data: str, tiny_model: str, db_url: str, **changes) -> CollectOptions:
    """A collection over `data` with the tiny weak model and the scripted strong model and judge
    (seeded, so the drafts repeat); `changes` override any option."""
    torch.manual_seed(0)
    settings = dict(
        task="medmcqa",
        data=data,
        samples=4,
        run="t",
        weak=f"huggingface:{tiny_model}",
        strong="openai:scripted",
        judge="llm",
        max_new_tokens=12,
        db=db_url,
        concurrency=2,
    )
    return CollectOptions(**{**settings, **changes})


@pytest.fixture
def opts(tmp_path, tiny_model, db_url):
    data = write_jsonl(tmp_path / "mcq.jsonl", [mcq(i, f"Question number {i}?") for i in range(4)])
    return scripted_collect(str(data), tiny_model, db_url)


def stored(db_url: str, run: str = "t"):
    store = get_store(db_url)
    run_id = store.run_id(run)
    return store.calls_of(run_id), store.pairs_of(run_id)


def test_pairs_in_store_equal_algorithm_1(server, opts, db_url):
    summary = collect(opts, progress=False)
    calls, pairs = stored(db_url)
    assert_stored_pairs_are_algorithm_1(get_store(db_url), "t", 4)
    by_id = {c.id: c for c in calls}
    for p in pairs:
        assert by_id[p.chosen_id].role == by_id[p.rejected_id].role == "weak_draft"
    refined = Counter(c.query_id for c in calls if c.role == "strong_refine")
    assert sorted(refined.values()) == [4, 4, 4, 4]  # every draft of every query was refined and judged
    assert summary.pairs == len(pairs) > 0
    assert summary.queries == 4 and summary.drafts == 16


def test_rerun_makes_no_new_calls_and_no_rows(server, opts, db_url):
    collect(opts, progress=False)
    requests, (calls, pairs) = len(server.requests), stored(db_url)
    again = collect(opts, progress=False)
    assert again.calls_made == {}
    assert len(server.requests) == requests
    calls2, pairs2 = stored(db_url)
    assert [c.id for c in calls2] == [c.id for c in calls] and len(pairs2) == len(pairs)
    assert again.pairs == len(pairs)


def test_solo_top_skips_refine_and_judge(server, opts, tmp_path):
    opts.data = str(write_jsonl(tmp_path / "top.jsonl", [mcq(0, "Easy one [solo-top]")]))
    summary = collect(opts, progress=False)
    assert Counter(server.kinds()) == {"solo": 1, "judge": 1}
    assert summary.solo_top == 1 and summary.pairs == 0 and summary.negatives == 4
    assert summary.calls_made == {"strong_solo": 1, "judge": 1, "weak_draft": 4}


def test_solo_answer_reused_by_later_rounds(server, opts):
    collect(opts, progress=False)
    first = Counter(server.kinds())
    opts.round = 2
    second = collect(opts, progress=False)
    total = Counter(server.kinds())
    assert total["solo"] == first["solo"] == 4  # z computed once per query
    assert "strong_solo" not in second.calls_made
    assert second.calls_made["weak_draft"] == 16 and total["refine"] == 2 * first["refine"]


def test_bad_judgment_is_retried_once_then_recorded_as_failed(server, opts, tmp_path, db_url):
    opts.data = str(write_jsonl(tmp_path / "nj.jsonl", [mcq(0, "NOJUDGE this one")]))
    summary = collect(opts, progress=False)
    assert Counter(server.kinds())["judge"] == 2  # the first try and one retry
    calls, pairs = stored(db_url)
    (judgment,) = [c for c in calls if c.role == "judge"]
    assert judgment.score is None and "not an integer" in judgment.error
    assert pairs == [] and summary.failed_calls == 1
    assert "refine" not in server.kinds()  # no solo score: nothing to compare drafts with


def test_server_failures_are_recorded_and_the_run_goes_on(server, opts, db_url):
    server.fail_next = 10_000  # every try of every call fails
    summary = collect(opts, progress=False)
    calls, _ = stored(db_url)
    solos = [c for c in calls if c.role == "strong_solo"]
    assert len(solos) == 4 and all(c.error for c in solos)
    assert summary.queries == 4 and summary.pairs == 0
    server.fail_next = 0
    opts.retry_failed = True
    healed = collect(opts, progress=False)
    assert healed.calls_made["strong_solo"] == 4
    assert all(c.error is None for c in stored(db_url)[0] if c.role == "strong_solo")


def store_bytes(folder) -> bytes:
    """Every file of the SQLite store as it lies on disk: the main file, and the WAL and shared-memory
    files where the newest rows are before a checkpoint."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("cowest.db*")))


def test_no_secret_reaches_the_store(server, opts, db_url, tmp_path):
    collect(opts, progress=False)
    assert b"sk-test-secret" not in store_bytes(tmp_path)
    # the scan finds a key where one is: a planted one, in a row as fresh as the run's (WAL mode)
    store = get_store(db_url)
    store.ensure_run("planted", "medmcqa", config={"note": "sk-test-secret-planted"})
    assert (tmp_path / "cowest.db-wal").exists() and b"sk-test-secret-planted" in store_bytes(tmp_path)


def test_a_changed_prompt_is_asked_again(server, opts, db_url, monkeypatch):
    collect(opts, progress=False)
    requests = len(server.requests)
    import cowest.nodes.strong_solo as solo_node

    original = solo_node.strong_solo_prompt
    monkeypatch.setattr(
        solo_node,
        "strong_solo_prompt",
        lambda q, fmt="cot": [{"role": "user", "content": original(q, fmt)[0]["content"] + "\nBe brief."}],
    )
    again = collect(opts, progress=False)
    assert again.calls_made.get("strong_solo") == 4  # a new prompt is new content: never served from the store
    assert len(server.requests) > requests
    calls, _ = stored(db_url)
    solo = [c.prompt[0]["content"].endswith("Be brief.") for c in calls if c.role == "strong_solo"]
    assert sorted(solo) == [False] * 4 + [True] * 4  # the old answers stay in the trace, beside the new


def test_the_graph_gives_the_same_answer_from_invoke_and_from_ainvoke_in_an_app_event_loop(server, tiny_model, db_url):
    """The nodes' async implementation (an agent app's own loop, as LangGraph Studio runs them) does
    what the sync one does: same draft, same refinement, read back from the store without a request."""
    import asyncio
    import dataclasses

    from cowest.graph import CollabContext, build_graph

    graph = build_graph()
    ctx = CollabContext(
        mode="infer", weak=f"huggingface:{tiny_model}", strong="openai:scripted", max_new_tokens=12, db=db_url, run="s"
    )
    query = {"query": "Question number 7?\nA. alpha\nB. beta", "gold": "A"}
    sync = graph.invoke(query, context=ctx)
    sent = len(server.requests)
    in_app = asyncio.run(graph.ainvoke(query, context=dataclasses.replace(ctx, run="a")))
    assert (in_app["output"], in_app["answer"]) == (sync["output"], sync["answer"])
    assert len(server.requests) == sent  # every call reused from the store (content keys)
    calls = get_store(db_url).calls_of(get_store(db_url).run_id("a"))
    assert {c.role for c in calls} == {"weak_draft", "strong_refine", "judge"} and all(c.reused_from for c in calls)


def test_sqlite_work_runs_in_place_on_cowests_loop_and_in_a_worker_thread_elsewhere():
    """Store work costs less than two thread switches on SQLite: on cowest's own requests loop it
    runs in place; a database server's round trips, and any other loop, go to a worker thread."""
    import asyncio
    import threading

    from cowest.models.requests_loop import run_on_loop
    from cowest.nodes.awaits import store_work

    here = lambda: threading.current_thread().name  # noqa: E731
    assert run_on_loop(store_work("sqlite:///x.db", here)) == "cowest-requests"
    assert run_on_loop(store_work("postgresql+psycopg://h/db", here)) != "cowest-requests"
    elsewhere = asyncio.run(store_work("sqlite:///x.db", here))
    assert elsewhere != threading.current_thread().name  # an app's loop is never blocked by it


def test_a_sync_caller_runs_the_nodes_on_cowests_loop_and_an_apps_loop_on_itself(
    server, tiny_model, db_url, monkeypatch
):
    """The nodes are async functions: a sync caller waits for them on cowest's requests loop, where the
    clients' connections live; an app's own event loop awaits them on itself (its requests still go
    out from cowest's loop)."""
    import asyncio
    import dataclasses
    import threading

    from cowest.graph import CollabContext, build_graph
    from cowest.nodes import judge as judge_module

    threads: list[str] = []
    scored = judge_module._score_fields

    def watched(text: str) -> dict:
        threads.append(threading.current_thread().name)
        return scored(text)

    monkeypatch.setattr(judge_module, "_score_fields", watched)
    ctx = CollabContext(
        mode="infer", weak=f"huggingface:{tiny_model}", strong="openai:scripted", max_new_tokens=12, db=db_url, run="s"
    )
    query = {"query": "Question number 3?\nA. alpha\nB. beta", "gold": "A"}
    build_graph().invoke(query, context=ctx)
    asyncio.run(build_graph().ainvoke(query, context=dataclasses.replace(ctx, run="app", db=None)))
    assert threads == ["cowest-requests", threading.current_thread().name]


def draft_texts(db_url: str, run: str = "t") -> dict:
    store = get_store(db_url)
    qids = {pk: q.qid for pk, q in store.queries_of(store.run_id(run)).items()}
    calls = store.calls_of(store.run_id(run))
    return {(qids[c.query_id], c.sample_index): c.output for c in calls if c.role == "weak_draft"}


def test_seed_makes_a_collection_into_a_fresh_store_draw_the_same_drafts(server, opts, tmp_path):
    """--seed: each sampled draft comes from a stream of its own identity (run, round, query, index),
    so a rerun into a fresh store, with other queries in flight beside it, draws the same drafts."""
    drafts = []
    for name, seed, concurrency in (("a", 7, 2), ("b", 7, 4), ("c", 8, 2)):
        db = f"sqlite:///{tmp_path / name}.db"
        torch.manual_seed(len(drafts))  # the global stream differs: only the seed decides
        collect(copy_as(CollectOptions, opts, db=db, seed=seed, concurrency=concurrency), progress=False)
        drafts.append(draft_texts(db))
    assert len(drafts[0]) == 16 and drafts[0] == drafts[1]
    assert drafts[2] != drafts[0]  # another seed, other drafts
    assert len(set(drafts[0].values())) > 4  # the samples of a query differ from each other


def test_a_served_weak_model_gets_each_samples_seed_in_its_request(serve, opts, db_url):
    server = serve(script)
    collect(copy_as(CollectOptions, opts, weak="openai:served", samples=3, seed=7), progress=False)
    drafts = [r for r in server.requests if r.get("model") == "served"]
    seeds = [r.get("seed") for r in drafts]
    assert len(drafts) == 4 and all(isinstance(s, int) for s in seeds) and len(set(seeds)) == 4
    assert all(r["n"] == 3 for r in drafts)


def annotator_script(prompt: str) -> str:
    """An annotator that scores a draft by its bytes: varied, known scores for the tiny model's drafts."""
    assert kind_of(prompt) == "judge", "individual feedback asks no solo answer and no refinement"
    return str(1 + sum(section(prompt, "Model output:").encode()) % 10)


def test_individual_feedback_judges_each_draft_alone_and_pairs_above_the_mean(serve, opts, db_url):
    from test_pairs import individual_feedback

    server = serve(script)
    server.scripts_by_model["annotator"] = annotator_script
    individual = copy_as(CollectOptions, opts, feedback="individual", annotator="openai:annotator", run="")
    summary = collect(individual, progress=False)
    assert {r["model"] for r in server.requests} == {"annotator"} and len(server.requests) == 16
    store = get_store(db_url)
    run_id = store.run_id(individual.run_name())
    assert individual.run_name() != copy_as(CollectOptions, individual, feedback="collaborative").run_name()
    calls = store.calls_of(run_id)
    scores = {c.parent_id: c.score for c in calls if c.role == "judge"}
    drafts = defaultdict(dict)
    for c in calls:
        if c.role == "weak_draft":
            drafts[c.query_id][c.sample_index] = (c.id, scores[c.id])
    by_id = {c.id: c for c in calls}
    got = defaultdict(list)
    for p in store.pairs_of(run_id):
        got[p.query_id].append((by_id[p.chosen_id].sample_index, by_id[p.rejected_id].sample_index))
    expected = {q: pairs for q, d in drafts.items() if (pairs := individual_feedback([d[i][1] for i in range(4)]))}
    assert dict(got) == expected and summary.pairs == sum(len(p) for p in expected.values()) > 0
    assert {c.role for c in calls} == {"weak_draft", "judge"}


def test_a_callers_input_cannot_point_the_nodes_at_other_rows(tiny_model, db_url):
    """Only a job's own graph takes the ids it stored its queries under (JobInput); a caller's graph
    drops them, and the nodes record under the run and query named in their context and input."""
    from cowest.graph import CollabContext, build_graph

    store = get_store(db_url)
    other = store.ensure_run("someone-else", "medmcqa")
    other_pk = store.ensure_query(other, "theirs", "Their question?", "A")
    ctx = CollabContext(
        task="medmcqa", mode="weak", weak=f"huggingface:{tiny_model}", max_new_tokens=4, db=db_url, run="mine"
    )
    query = {"query": "Question number 5?\nA. alpha\nB. beta", "stored": {"run_id": other, "query_pk": other_pk}}
    state = build_graph().invoke(query, context=ctx)
    assert "stored" not in state
    assert store.calls_of(other) == []
    [draft] = store.calls_of(store.run_id("mine"))
    assert draft.query_id != other_pk
