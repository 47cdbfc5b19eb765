"""The same collection on PostgreSQL: pairs recorded, a rerun adds nothing, the URL's password stays out of errors."""

import pytest
import torch
from conftest import write_jsonl
from scripted_server import ScriptedServer
from test_collect_graph import mcq, script

from cowest.collect import CollectOptions, collect
from cowest.storage import StoreError, TraceStore, get_store

pytestmark = pytest.mark.slow  # starts servers or trains


def test_collect_and_rerun_on_postgres(pg_url, tiny_model, tmp_path, monkeypatch):
    data = write_jsonl(tmp_path / "mcq.jsonl", [mcq(i, f"Question number {i}?") for i in range(3)])
    with ScriptedServer(script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        torch.manual_seed(0)
        opts = CollectOptions(
            task="medmcqa",
            data=str(data),
            samples=4,
            run="pg",
            weak=f"huggingface:{tiny_model}",
            strong="openai:scripted",
            max_new_tokens=10,
            db=pg_url,
            concurrency=3,
        )
        first = collect(opts, progress=False)
        store = get_store(pg_url)
        rows = store.calls_of(store.run_id("pg"))
        again = collect(opts, progress=False)
    assert first.queries == 3 and len(rows) == first.drafts * 3 + 3 * 2  # drafts, refines, their judgments; solos
    assert again.calls_made == {} and len(store.calls_of(store.run_id("pg"))) == len(rows)
    assert len(store.pairs_of(store.run_id("pg"))) == first.pairs


def test_bad_postgres_url_hides_the_password():
    with pytest.raises(StoreError) as exc:
        TraceStore("postgresql+psycopg://user:s3cret@127.0.0.1:9/db")
    assert "s3cret" not in str(exc.value) and "***" in str(exc.value)
