"""Reliability: concurrent collectors, faults, hangs, short replies and Ctrl-C, with real
OS processes and the scripted OpenAI-compatible server."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from scripted_server import ScriptedServer, section
from test_collect_graph import script
from test_pairs import assert_stored_pairs_are_algorithm_1

from cowest.cli import main
from cowest.storage import get_store

pytestmark = pytest.mark.slow  # starts servers and processes


def cli_env(srv_url: str, tmp_path) -> dict:
    return {
        **os.environ,
        "OPENAI_BASE_URL": srv_url,
        "OPENAI_API_KEY": "sk-test-secret",
        "COWEST_CACHE_DIR": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def collect_argv(data, tiny_model, db_url, *extra):
    return [
        "collect",
        "--task",
        "medmcqa",
        "--data",
        data,
        "--samples",
        "4",
        "--run",
        "r",
        "--weak",
        f"huggingface:{tiny_model}",
        "--strong",
        "openai:scripted",
        "--max-new-tokens",
        "10",
        "--db",
        db_url,
        "--concurrency",
        "2",
        *extra,
    ]


def spawn(argv, env):
    return subprocess.Popen(
        [sys.executable, "-m", "cowest.cli", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def check_one_collector_worth(db_url: str, queries: int = 4, samples: int = 4):
    """The rows one collector leaves: one row per call identity, refinements that read their parent's
    stored text, pairs equal to Algorithm 1 on the stored scores."""
    store = get_store(db_url)
    run_id = store.run_id("r")
    calls = store.calls_of(run_id)
    by_id = {c.id: c for c in calls}
    identity = Counter((c.role, c.query_id, c.sample_index, c.parent_id if c.role == "judge" else None) for c in calls)
    assert max(identity.values()) == 1, [k for k, v in identity.items() if v > 1]
    roles = Counter(c.role for c in calls)
    assert roles["strong_solo"] == queries and roles["weak_draft"] == queries * samples
    for c in calls:
        if c.role == "strong_refine":
            assert section(c.prompt[0]["content"], "Expert model's answer:") == by_id[c.parent_id].output
    assert_stored_pairs_are_algorithm_1(store, "r", samples)


@pytest.mark.parametrize("collectors", [2, 3])
def test_collectors_on_one_run_leave_one_collectors_rows(collectors, data, tiny_model, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    with ScriptedServer(script) as srv:
        srv.latency = 0.02
        env = cli_env(srv.url, tmp_path)
        procs = [spawn(collect_argv(data, tiny_model, db_url), env) for _ in range(collectors)]
        results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * collectors, [r[1][-2000:] for r in results]
    check_one_collector_worth(db_url)
    assert len(srv.requests) <= 1.1 * sent_originals(db_url)  # they split the queries: no call asked twice


def test_collectors_on_postgres(pg_url, data, tiny_model, tmp_path):
    with ScriptedServer(script) as srv:
        env = cli_env(srv.url, tmp_path)
        procs = [spawn(collect_argv(data, tiny_model, pg_url), env) for _ in range(2)]
        results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    check_one_collector_worth(pg_url)
    assert len(srv.requests) <= 1.1 * sent_originals(pg_url)


def sent_originals(db_url: str) -> int:
    """Strong and judge calls the run holds that were sent, not copied: what one collector sends."""
    store = get_store(db_url)
    return sum(c.billed and c.reused_from is None for c in store.calls_of(store.run_id("r")))


def test_a_dead_workers_queries_are_taken_over_when_its_leases_expire(monkeypatch, data, tiny_model, db_url):
    import time

    from cowest.storage import leases
    from cowest.tasks import get_task

    with ScriptedServer(script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        argv = collect_argv(data, tiny_model, db_url, "--lease-seconds", "30")
        assert main([*argv, "--limit", "1"]) == 0  # the run and its first query exist
        store = get_store(db_url)
        run_id = store.run_id("r")
        examples = get_task("medmcqa").load(data).examples
        pks = sorted(store.ensure_query(run_id, ex.id, ex.query, ex.gold, ex.line) for ex in examples)
        leases.ensure_leases(store, run_id, 1, pks)
        assert leases.claim(store, run_id, 1, "dead-worker", 10, ttl=2.0) == pks[1:]  # query 0 is finished
        start = time.monotonic()
        assert main(argv) == 0
        assert time.monotonic() - start >= 1.0  # it waited for the dead worker's leases to expire
    check_one_collector_worth(db_url)


def test_a_query_mark_that_fails_stops_the_worker_waiting_for_others(db_url, tiny_model):
    """Two workers: when one's store write of a finished query fails while it waits for the other's
    queries, it stops with that error instead of waiting (each would wait for the other's leases)."""
    from cowest.claims import Claims
    from cowest.graph import CollabContext
    from cowest.runner import run_over
    from cowest.storage import StoreError
    from cowest.tasks import Example

    store = get_store(db_url)
    run_id = store.ensure_run("r", "medmcqa")
    pks = [store.ensure_query(run_id, f"q{i}", f"query {i}", "A") for i in range(2)]
    by_pk = {pk: Example(id=f"q{i}", query=f"query {i}", gold="A", answers=("A",)) for i, pk in enumerate(pks)}
    a, b = (Claims(store, run_id, 1, by_pk, batch=1, ttl=60) for _ in range(2))
    assert next(b.examples()).id == "q0"  # b holds q0 and never finishes it

    async def failing_mark(ex, state, error):
        raise StoreError("disk I/O error")

    ctx = CollabContext(
        task="medmcqa", mode="weak", weak=f"huggingface:{tiny_model}", max_new_tokens=4, db=db_url, run="r"
    )
    start = time.monotonic()
    with pytest.raises(StoreError, match="disk I/O"):
        for ex, _state, _error in run_over(a.examples(), ctx, concurrency=1, progress=False, after=failing_mark):
            pytest.fail(f"{ex.id} was yielded though its mark failed")
    assert time.monotonic() - start < 30  # it did not wait for q0's lease (60 s)


def test_faults_exit_3_then_retry_failed_heals(capsys, monkeypatch, data, tiny_model, db_url):
    with ScriptedServer(script, fail_rate=0.3, seed=1) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        code = main(collect_argv(data, tiny_model, db_url, "--max-retries", "0"))
        out = capsys.readouterr().out
        assert code == 3 and "failed calls:" in out and "--retry-failed" in out
        srv.fail_rate = 0.0
        code = main(collect_argv(data, tiny_model, db_url, "--max-retries", "0", "--retry-failed"))
        assert code == 0, capsys.readouterr().out
    store = get_store(db_url)
    assert not [c for c in store.calls_of(store.run_id("r")) if c.error]
    check_one_collector_worth(db_url)


def test_dead_server_fails_fast_and_stops(capsys, monkeypatch, data, tiny_model, db_url):
    with ScriptedServer(script) as srv:
        srv.hang = True
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        start = time.perf_counter()
        code = main(collect_argv(data, tiny_model, db_url, "--limit", "1", "--timeout", "2", "--max-retries", "0"))
        took = time.perf_counter() - start
    out = capsys.readouterr().out
    assert code == 3 and took < 10 and "Timeout" in out


def test_a_dead_api_trips_the_error_budget(capsys, monkeypatch, data, tiny_model, db_url):
    with ScriptedServer(script) as srv:
        srv.fail_next = 10**6
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        code = main(
            collect_argv(data, tiny_model, db_url, "--max-retries", "0", "--max-failures", "2", "--concurrency", "1")
        )
        sent = len(srv.requests)
    out = capsys.readouterr().out
    assert code == 3 and "stopped after 2 failed calls in a row" in out and sent < 4


def test_sigint_with_calls_in_flight_exits_130_within_5s(data, tiny_model, db_url, tmp_path):
    with ScriptedServer(script) as srv:
        srv.hang = True
        proc = spawn(collect_argv(data, tiny_model, db_url), cli_env(srv.url, tmp_path))
        deadline = time.time() + 120
        while not srv.requests and time.time() < deadline:  # a call is in flight
            time.sleep(0.1)
        assert srv.requests, "the collector never sent a request"
        start = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        took = time.perf_counter() - start
    assert proc.returncode == 130 and took < 5
    assert "Traceback" not in err and "interrupted" in err.strip().splitlines()[-1]


def test_a_server_that_ignores_n_gets_the_missing_samples_one_request_each(capsys, monkeypatch, data, db_url):
    with ScriptedServer(script) as srv:
        srv.max_choices = 1
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        code = main(
            [
                "collect",
                "--task",
                "medmcqa",
                "--data",
                data,
                "--limit",
                "1",
                "--samples",
                "3",
                "--run",
                "r",
                "--weak",
                "openai:scripted",
                "--strong",
                "openai:scripted",
                "--db",
                db_url,
            ]
        )
    drafts = [c for c in get_store(db_url).calls_of(get_store(db_url).run_id("r")) if c.role == "weak_draft"]
    # one short reply of n=3, then the two missing samples one request each: all three drafts
    assert len(drafts) == 3 and all(c.error is None for c in drafts)
    assert [r.get("n", 1) for r in srv.requests if r["temperature"] == 1.0] == [3, 1, 1]  # the sampled drafts
    assert code == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_lease_expiry_is_read_off_the_databases_clock_not_a_workers(backend, db_url, request, monkeypatch):
    """Two workers whose clocks disagree by an hour: the one running ahead does not take over the
    other's live leases, and the one running behind does take over an expired one."""
    import time

    from cowest.storage import leases

    url = db_url if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = get_store(url)
    run_id = store.ensure_run("r", "medmcqa")
    pks = [store.ensure_query(run_id, f"q{i}", f"Q{i}?", "A") for i in range(2)]
    leases.ensure_leases(store, run_id, 1, pks)
    assert leases.claim(store, run_id, 1, "a", 1, ttl=60.0) == pks[:1]
    assert leases.claim(store, run_id, 1, "b", 1, ttl=0.2) == pks[1:]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)  # worker c's clock is an hour ahead
    assert leases.claim(store, run_id, 1, "c", 2, ttl=60.0) == []  # both leases are live by the database's clock
    monkeypatch.setattr(time, "time", lambda: real() - 3600)  # worker d's is an hour behind
    time.sleep(0.3)
    assert leases.claim(store, run_id, 1, "d", 2, ttl=60.0) == pks[1:]  # b's lease expired meanwhile
