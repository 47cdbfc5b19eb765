"""A store that stops taking writes while a job runs (a disk that fills): the job stops with one
line, exit 3, and every strong or judge output the server answered is either stored or counted in
that line as paid and lost."""

from __future__ import annotations

import re
import sqlite3
import zlib

import pytest
from conftest import write_jsonl
from sqlalchemy import event
from sqlalchemy.engine import Engine
from test_collect_graph import mcq, script

from cowest.cli import main
from cowest.core import StoreFailed
from cowest.nodes.ledger import Ledger
from cowest.storage import get_store

pytestmark = pytest.mark.slow  # a scripted server and the tiny model


@pytest.fixture
def store_capped_at():
    """`store_capped_at(path, pages)`: from now on, a connection to the SQLite file `path` may grow it
    to `pages` pages and no more (set at each checkout: pooled connections were opened before). SQLite
    then answers SQLITE_FULL, as on a full disk."""
    listeners = []

    def cap(path, pages: int) -> None:
        def on_checkout(dbapi_connection, _record, _proxy) -> None:
            if dbapi_connection.execute("PRAGMA database_list").fetchone()[2] == str(path):
                dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        event.listen(Engine, "checkout", on_checkout)
        listeners.append(on_checkout)

    yield cap
    for listener in listeners:
        event.remove(Engine, "checkout", listener)


def _pages(path) -> int:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return db.execute("PRAGMA page_count").fetchone()[0]


def _fail_paid_writes_after(path, paid: int) -> None:
    """The store refuses every paid call row after the first `paid`, with a full disk's message:
    the write that fails is then a paid one (with a page cap it is whichever write comes next)."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER full_after BEFORE INSERT ON calls WHEN NEW.billed AND "
            f"(SELECT count(*) FROM calls WHERE billed) >= {paid} "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )


@pytest.mark.parametrize("fault", ["page cap", "paid write refused"])
def test_a_store_that_fills_mid_run_stops_the_job_and_counts_what_was_paid_and_not_stored(
    fault, serve, tiny_model, tmp_path, capsys, store_capped_at
):
    db = tmp_path / "full.db"
    url = f"sqlite:///{db}"
    get_store(url).ensure_run("warm-up", "open")  # the schema's pages, before the fault
    data = write_jsonl(tmp_path / "q.jsonl", [mcq(i, f"Question {i}?") for i in range(12)])
    long_winded = " and a long explanation" * 200  # each paid answer takes pages

    def scripted(prompt: str) -> str:  # answers differ by prompt: each is paid for, none a copy of another's
        return script(prompt).replace("Explanation:", f"Explanation: {zlib.crc32(prompt.encode())}{long_winded}", 1)

    server = serve(scripted)
    if fault == "page cap":
        store_capped_at(db, _pages(db) + 40)
    else:
        _fail_paid_writes_after(db, 10)
    argv = ["collect", "--task", "medmcqa", "--data", str(data), "--samples", "2", "--run", "r"]
    argv += ["--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted", "--max-new-tokens", "8"]
    code = main([*argv, "--db", url, "--concurrency", "4"])
    err = capsys.readouterr().err
    assert code == 3, err
    lines = [line for line in err.splitlines() if line.startswith("cowest:")]
    assert len(lines) == 1 and "Traceback" not in err and "full" in lines[0]
    lost, abandoned = map(int, re.search(r"(\d+) paid .* and (\d+) in flight", lines[0]).groups())
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM calls WHERE billed AND reused_from IS NULL").fetchone()[0]
    answered = len(server.requests)
    assert 0 < stored < 12 * 4  # the store filled mid-run (a full run stores 4 paid calls a query and more)
    assert answered <= stored + lost + abandoned  # every answer the server gave is stored or counted
    if fault == "paid write refused":
        assert lost > 0


def test_once_the_store_failed_no_paid_request_starts_and_the_counts_are_read_together():
    ledger = Ledger()
    ledger.asking(3)  # three paid jobs on their way
    ledger.add_lost(1)  # one answered, and its write failed
    assert ledger.halt() == (1, 3)
    with pytest.raises(StoreFailed):  # a request started now would be paid and counted nowhere
        ledger.asking(1)
    ledger.asking(-3)  # those in flight still finish their accounting
    assert ledger.in_flight == 0 and ledger.should_stop
