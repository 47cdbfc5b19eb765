"""Identical requests of queries running at once are sent once (nodes/in_flight.py): the others wait
for that answer and store a copy of it, as the store's content reuse would after it was stored."""

from __future__ import annotations

import threading
from collections import Counter

from conftest import write_jsonl
from test_collect_graph import mcq, script, scripted_collect, stored

from cowest.collect import collect
from cowest.nodes import in_flight


def _judge_prompts(server) -> Counter:
    return Counter(r["messages"][-1]["content"] for r in server.requests if "Ground truth:" in str(r["messages"]))


def test_queries_asking_the_same_judgment_at_once_send_it_once(serve, tiny_model, tmp_path, db_url):
    server = serve(script)
    server.latency = 0.3  # every query's solo answer comes back at once: their judgments are asked together
    data = write_jsonl(tmp_path / "q.jsonl", [mcq(i, f"Question number {i}?") for i in range(4)])
    summary = collect(scripted_collect(str(data), tiny_model, db_url, concurrency=4), progress=False)
    assert set(_judge_prompts(server).values()) == {1}  # the same solo answer of 4 queries: judged once
    calls, _ = stored(db_url)
    solos = {c.id for c in calls if c.role == "strong_solo"}
    solo_judgments = [c for c in calls if c.role == "judge" and c.parent_id in solos]
    assert len(solo_judgments) == 4 and len({c.score for c in solo_judgments}) == 1
    assert sum(c.reused_from is None for c in solo_judgments) == 1  # one sent, three copies of it
    assert summary.queries == 4 and summary.failed_calls == 0


def test_when_the_one_request_fails_the_waiting_query_sends_its_own(serve, tiny_model, tmp_path, db_url):
    judged = Counter()
    lock = threading.Lock()

    def first_judgments_fail(prompt: str) -> str:
        if "Ground truth:" in prompt:
            with lock:
                judged["n"] += 1
                if judged["n"] <= 2:  # the first request and its one retry: not a score
                    return "no idea"
        return script(prompt)

    server = serve(first_judgments_fail)
    server.latency = 0.3
    data = write_jsonl(tmp_path / "q.jsonl", [mcq(i, f"Question number {i}?") for i in range(2)])
    collect(scripted_collect(str(data), tiny_model, db_url, concurrency=2, samples=2), progress=False)
    calls, _ = stored(db_url)
    solos = {c.id for c in calls if c.role == "strong_solo"}
    solo_judgments = sorted((c for c in calls if c.role == "judge" and c.parent_id in solos), key=lambda c: c.id)
    assert [c.error is not None for c in solo_judgments] == [True, False]  # the sender's failure is its own
    assert solo_judgments[1].reused_from is None and solo_judgments[1].score is not None
    assert list(_judge_prompts(server).values())[0] == 3  # the failed request, its retry, the waiter's own


def test_a_flight_is_claimed_once_and_landing_wakes_its_waiters():
    mine, theirs = in_flight.claim("db", ["a", "b", "a"])
    assert mine == {"a", "b"} and theirs == {}  # twice in one batch: that batch sends it once
    mine2, theirs2 = in_flight.claim("db", ["a", "c"])
    assert mine2 == {"c"} and set(theirs2) == {"a"}
    assert in_flight.claim("other-db", ["a"])[0] == {"a"}  # a copy must be stored where its original is
    in_flight.land("db", {"a": "row-a", "b": None})
    assert theirs2["a"].result(timeout=1) == "row-a"
    assert in_flight.claim("db", ["a"])[0] == {"a"}  # landed: the next one asks the store, then sends
    in_flight.land("db", {"a": None, "c": None})
    in_flight.land("other-db", {"a": None})
