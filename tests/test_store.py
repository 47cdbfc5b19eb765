"""The per-step writes (storage/writes.py) on SQLite and PostgreSQL: a node step's calls go in
once, a success another writer stored first stands, a stored failure is replaced by the retry; a
query's pairs and labelled drafts are written over, under the same ids. Opening a new store while
another process creates it."""

import sqlite3
import threading
from datetime import datetime

import pytest

from cowest.storage.store import TraceStore


def call(run_id: int, query_pk: int, key: str, output: str | None, error: str | None = None, **more) -> dict:
    fields = dict(key=key, content_key=f"c-{key}", run_id=run_id, query_id=query_pk, role="judge", model="m")
    return {**fields, "prompt": [{"role": "user", "content": "Why?"}], "output": output, "error": error, **more}


def check_write_path(url: str) -> None:
    store = TraceStore(url)
    run_id = store.ensure_run("r", "medmcqa")
    pk = store.ensure_queries(run_id, [("q1", "Why?", "A", 1), ("q2", "How?", "B", 2)])["q1"]
    assert store.ensure_queries(run_id, [("q1", "Why?", "A", 1)])["q1"] == pk
    assert len(store.queries_of(run_id)) == 2  # stored once

    first = store.save_calls([call(run_id, pk, "ok", "first"), call(run_id, pk, "bad", None, "timeout")])
    assert [c.id for c in first] == sorted(c.id for c in first) and all(c.id for c in first)
    assert first[0].round == 1 and first[0].sample_index == 0 and first[0].created_at  # defaults filled

    again = store.save_calls(
        [
            call(run_id, pk, "ok", "second"),  # a success stands: the stored one comes back
            call(run_id, pk, "bad", "healed"),  # a stored failure is replaced, under its id
            call(run_id, pk, "new", "third"),
            call(run_id, pk, "new", "twice"),  # the same key twice in a step: the first stands
        ]
    )
    assert [(c.id, c.output, c.error) for c in again] == [
        (first[0].id, "first", None),
        (first[1].id, "healed", None),
        (again[2].id, "third", None),
        (again[2].id, "third", None),
    ]
    failed_retry = store.save_calls([call(run_id, pk, "ok", None, "rate limited")])
    assert (failed_retry[0].output, failed_retry[0].error) == ("first", None)  # a failure never hides a success
    stored = store.find_calls(["ok", "bad", "new"])
    assert {k: (c.output, c.error) for k, c in stored.items()} == {
        "ok": ("first", None),
        "bad": ("healed", None),
        "new": ("third", None),
    }
    assert store.count_calls() == 3
    assert isinstance(first[0].created_at, datetime) and first[0].billed is False  # typed as the ORM reads them
    assert store.calls_of(run_id)[0].prompt == [{"role": "user", "content": "Why?"}]

    copy = store.save_calls([call(run_id, pk, "copy", "first", content_key="c-ok", reused_from=first[0].id)])
    store.save_calls([call(run_id, pk, "failed", None, "timeout")])
    own, originals = store.find_for_jobs(["ok", "copy", "nope"], ["c-ok", "c-new", "c-failed", "c-none"])
    assert {k: c.id for k, c in own.items()} == {"ok": first[0].id, "copy": copy[0].id}
    # the originals a content key may reuse: neither a copy nor a failure
    assert {content: c.key for content, c in originals.items()} == {"c-ok": "ok", "c-new": "new"}

    a, b = first[0].id, first[1].id
    pair_ids = store.save_judged(run_id, 1, pk, pairs=[(a, b)], examples=[(0, a, True, 1.0), (1, b, False, -1.0)])
    again = store.save_judged(run_id, 1, pk, pairs=[(b, a)], examples=[(0, a, False, 0.0), (1, b, False, -1.0)])
    assert again == pair_ids and len(pair_ids) == 1
    assert [(p.id, p.chosen_id, p.rejected_id) for p in store.pairs_of(run_id)] == [(pair_ids[0], b, a)]
    assert [(e.idx, e.draft_id, e.desirable, e.delta) for e in store.examples_of(run_id)] == [
        (0, a, False, 0.0),
        (1, b, False, -1.0),
    ]


def test_the_write_path_on_sqlite(db_url):
    check_write_path(db_url)


@pytest.mark.slow
def test_the_write_path_on_postgres(pg_url):
    check_write_path(pg_url)


def test_a_store_another_process_is_creating_is_waited_for(tmp_path):
    """Two collectors started at once on a new SQLite file: the second opens it while the first
    holds the write lock before the file is in WAL mode. SQLite refuses that switch at once
    ("database is locked") instead of waiting; the store waits for the lock like any statement."""
    path = tmp_path / "new.db"
    creator = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    creator.execute("BEGIN IMMEDIATE")
    threading.Timer(0.5, creator.execute, ["COMMIT"]).start()
    store = TraceStore(f"sqlite:///{path}")
    assert store.ensure_run("r", "ifqa") == 1
    creator.close()


def test_a_call_row_has_every_column_but_the_prompt():
    from cowest.storage.schema import Call, CallRow

    assert list(CallRow._fields) == [c.name for c in Call.__table__.columns if c.name != "prompt"]
