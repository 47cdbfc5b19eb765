"""Strong-model cost: content-addressed reuse across runs and commands, budgets that are never
passed, `cowest plan`, stable keys, and the migration of a store written by cowest 0.1."""

import dataclasses
import hashlib
import shutil
import time
from collections import Counter

import pytest
import sqlalchemy as sa
from conftest import write_jsonl
from test_collect_graph import mcq, script, scripted_collect
from test_pairs import assert_stored_pairs_are_algorithm_1

from cowest.cli import main
from cowest.collect import CollectOptions, collect, exit_code
from cowest.core import EXIT_BUDGET, EXIT_OK
from cowest.evaluation import EvalOptions, evaluate
from cowest.models import ModelSpec, Sampling
from cowest.models.identity import decoding
from cowest.planning import plan_collect
from cowest.storage import StoreError, get_store
from cowest.storage.keys import adapter_digest, stable_key
from cowest.storage.migrate import HEAD

QUERIES, K = 4, 4


@pytest.fixture
def server(serve):
    return serve(script)


@pytest.fixture
def data(tmp_path):
    return str(write_jsonl(tmp_path / "mcq.jsonl", [mcq(i, f"Question number {i}?") for i in range(QUERIES)]))


def options(data, tiny_model, db_url, **changes) -> CollectOptions:
    return scripted_collect(data, tiny_model, db_url, **{"samples": K, "run": "a", **changes})


def calls_of(db_url, run):
    store = get_store(db_url)
    return store.calls_of(store.run_id(run))


def assert_pairs_are_algorithm_1(db_url, run):
    assert_stored_pairs_are_algorithm_1(get_store(db_url), run, K)


# -- reuse ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_run_reuses_every_solo_answer_and_keeps_a_complete_trace(server, data, tiny_model, db_url):
    collect(options(data, tiny_model, db_url, run="a"), progress=False)
    first = len(server.requests)
    second = collect(options(data, tiny_model, db_url, run="b"), progress=False)
    kinds = Counter(server.kinds()[first:])
    assert kinds["solo"] == 0 and exit_code(second) == EXIT_OK
    b = calls_of(db_url, "b")
    solo = [c for c in b if c.role == "strong_solo"]
    originals = get_store(db_url).calls_by_id([c.reused_from for c in solo])
    assert len(solo) == QUERIES and all(c.reused_from is not None for c in solo)
    assert {c.run_id for c in originals.values()} == {get_store(db_url).run_id("a")}
    assert all(c.output == originals[c.reused_from].output for c in solo)
    assert second.spending.reused >= 2 * QUERIES  # the solo answers and their judgments
    assert second.spending.sent == len(server.requests) - first
    assert len([c for c in b if c.role == "weak_draft"]) == QUERIES * K  # a new run draws its own samples
    assert_pairs_are_algorithm_1(db_url, "b")


@pytest.mark.slow
def test_the_summary_counts_every_request_sent_retries_included(server, data, tiny_model, db_url):
    server.fail_next, server.fail_status, server.retry_after = 3, 503, "0"  # three answered 503, then sent again
    summary = collect(options(data, tiny_model, db_url), progress=False)
    assert exit_code(summary) == EXIT_OK
    assert summary.spending.http_requests == len(server.requests) == summary.spending.sent + 3
    assert f"({len(server.requests)} over HTTP, retries included)" in summary.spending.line()


@pytest.mark.slow
def test_no_cache_sends_every_call_the_run_has_not_made(server, data, tiny_model, db_url):
    collect(options(data, tiny_model, db_url, run="a"), progress=False)
    first = len(server.requests)
    collect(options(data, tiny_model, db_url, run="b", cache=False), progress=False)
    assert Counter(server.kinds()[first:])["solo"] == QUERIES
    assert not any(c.reused_from for c in calls_of(db_url, "b") if c.role == "strong_solo")


@pytest.mark.slow
def test_eval_strong_cot_after_collect_sends_nothing(server, data, tiny_model, db_url):
    collect(options(data, tiny_model, db_url), progress=False)
    sent = len(server.requests)
    (result,) = evaluate(
        EvalOptions(
            task="medmcqa",
            data=data,
            methods=["strong-cot"],
            strong="openai:scripted",
            weak=f"huggingface:{tiny_model}",
            max_new_tokens=12,
            db=db_url,
        ),
        progress=False,
    )
    assert len(server.requests) == sent
    assert result.metrics["strong_sent"] == 0 and result.metrics["strong_reused"] == QUERIES
    assert result.metrics["accuracy"] == 0.0  # the script's solo answer B is wrong on every query (gold A)


# -- budgets -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_call_budget_is_never_passed_and_a_larger_one_finishes_the_run(server, data, tiny_model, db_url):
    capped = collect(options(data, tiny_model, db_url, max_strong_calls=7, concurrency=4), progress=False)
    assert exit_code(capped) == EXIT_BUDGET and capped.spending.sent == len(server.requests) <= 7
    time.sleep(0.5)
    assert len(server.requests) == capped.spending.sent  # no query of the job goes on after it returns
    assert "--max-strong-calls 7" in (capped.stopped or "") and capped.unfinished > 0
    assert capped.failed_queries == 0  # stopped, not failed
    again = collect(options(data, tiny_model, db_url, max_strong_calls=7), progress=False)
    assert exit_code(again) == EXIT_BUDGET and len(server.requests) <= 7  # the cap counts the whole run
    done = collect(options(data, tiny_model, db_url, max_strong_calls=1000), progress=False)
    assert exit_code(done) == EXIT_OK and done.unfinished == 0
    sent_rows = [c for c in calls_of(db_url, "a") if c.billed and c.reused_from is None]
    assert len(sent_rows) == len(server.requests)  # nothing was asked twice
    assert_pairs_are_algorithm_1(db_url, "a")


@pytest.mark.slow
def test_a_token_budget_is_never_passed(server, data, tiny_model, db_url):
    capped = collect(options(data, tiny_model, db_url, max_strong_tokens=1500, concurrency=4), progress=False)
    used = sum((c.tokens_in or 0) + (c.tokens_out or 0) for c in calls_of(db_url, "a") if c.billed)
    assert exit_code(capped) == EXIT_BUDGET and 0 < used <= 1500


@pytest.mark.slow
def test_the_cli_stops_on_budget_with_exit_4_and_says_how_to_go_on(server, data, tiny_model, db_url, capsys):
    argv = ["collect", "--task", "medmcqa", "--data", data, "--samples", str(K), "--run", "a"]
    argv += ["--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted", "--max-new-tokens", "12"]
    argv += ["--db", db_url, "--max-strong-calls", "3", "--price-in", "2.5", "--price-out", "10"]
    assert main(argv) == EXIT_BUDGET
    out = capsys.readouterr().out
    assert "budget reached" in out and "larger budget" in out and "$" in out
    assert len(server.requests) <= 3


# -- plan ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_plan_counts_the_paper_loop_before_and_nothing_after(server, data, tiny_model, db_url, capsys):
    before = plan_collect(options(data, tiny_model, db_url))
    rows = {r.role: r for r in before.rows}
    assert rows["strong_solo"].needed == QUERIES and rows["strong_refine"].needed == QUERIES * K
    assert rows["judge"].needed == QUERIES * (K + 1)
    assert before.billed().sent == QUERIES * (2 * K + 2) and before.billed().reused == 0
    assert server.requests == [] and get_store(db_url).runs() == []  # nothing sent, nothing written
    collect(options(data, tiny_model, db_url), progress=False)
    sent_by_collect = list(server.requests)
    after = plan_collect(options(data, tiny_model, db_url))
    assert after.billed().sent == 0 and after.billed().reused > 0
    argv = ["--task", "medmcqa", "--data", data, "--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted"]
    argv += ["--max-new-tokens", "12", "--db", db_url]
    assert main(["plan", "eval", *argv, "--methods", "strong-cot,strong"]) == 0
    out = capsys.readouterr().out
    assert "eval strong-cot" in out and f"at most {QUERIES} " in out  # the direct answers are new, CoT reused
    assert main(["plan", "rounds", *argv, "--samples", str(K), "--run", "a", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert f"at most {QUERIES * K * 2} " in out  # round 2: K refinements and K judgments per query
    assert server.requests == sent_by_collect


# -- keys ----------------------------------------------------------------------------------------
def test_keys_are_named_and_a_field_at_its_default_changes_nothing():
    assert stable_key(a=1, b=None) == stable_key(a=1) != stable_key(a=2)
    assert stable_key(a=1, b=2) == stable_key(b=2, a=1)
    newer = dataclasses.make_dataclass("Newer", [("min_p", float, 0.0)], bases=(Sampling,), frozen=True)
    local, remote = ModelSpec.parse("smollm2"), ModelSpec.parse("openai:gpt")
    for spec in (local, remote):
        assert decoding(newer(max_new_tokens=12), spec) == decoding(Sampling(max_new_tokens=12), spec)
    assert decoding(Sampling(top_p=0.5), local) == {}  # greedy decoding ignores top-p
    assert decoding(Sampling(repetition_penalty=1.1), remote) == {}  # no API takes it
    assert decoding(Sampling(repetition_penalty=1.1), local) == {"repetition_penalty": 1.1}


def test_an_adapter_is_known_by_its_content_not_its_path(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "adapter_config.json").write_text('{"r": 8}')
    (a / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    assert adapter_digest(str(a)) == adapter_digest(str(b))
    (b / "adapter_model.safetensors").write_bytes(b"\x01" * 64)
    assert adapter_digest(str(a)) != adapter_digest(str(b))


def test_the_same_weights_saved_by_two_processes_have_one_identity(tmp_path):
    """PEFT writes `target_modules` (a set) in any order: two processes saving the same weights must
    not give the adapter two identities (a second `rounds` would draft everything again)."""
    import json

    a, b = tmp_path / "a", tmp_path / "b"
    for folder, modules in ((a, ["q_proj", "v_proj", "o_proj"]), (b, ["v_proj", "o_proj", "q_proj"])):
        folder.mkdir()
        config = {"r": 8, "target_modules": modules, "lora_alpha": 16}
        (folder / "adapter_config.json").write_text(
            json.dumps(dict(reversed(config.items())) if folder == b else config)
        )
        (folder / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    assert (a / "adapter_config.json").read_bytes() != (b / "adapter_config.json").read_bytes()
    assert adapter_digest(str(a)) == adapter_digest(str(b))
    (b / "adapter_config.json").write_text(json.dumps({"r": 16, "target_modules": ["q_proj"], "lora_alpha": 16}))
    assert adapter_digest(str(a)) != adapter_digest(str(b))


# -- migration -----------------------------------------------------------------------------------
def _old_key(*parts) -> str:
    """0.1's key: a hash of positional reprs."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def _build_old_store(new_url: str, old_url: str) -> None:
    """A store as cowest 0.1 wrote it: its schema (revision 0001, no alembic_version table) and its
    positional keys, holding the runs, queries, calls and pairs of `new_url`."""
    from cowest.storage.migrate import upgrade

    old = sa.create_engine(old_url)
    upgrade(old, "0001")
    new = sa.create_engine(new_url)
    meta_old, meta_new = sa.MetaData(), sa.MetaData()
    meta_old.reflect(old)
    meta_new.reflect(new)
    with new.connect() as src, old.begin() as dst:
        dst.execute(sa.text("DROP TABLE alembic_version"))
        for name in ("runs", "queries", "calls", "pairs"):
            table = meta_old.tables[name]
            rows = [dict(r._mapping) for r in src.execute(sa.select(meta_new.tables[name]).order_by(sa.text("id")))]
            rows = [{k: v for k, v in r.items() if k in table.c} for r in rows]
            if name == "calls":
                for r in rows:
                    r["key"] = _old_key(r["run_id"], r["round"], r["query_id"], r["role"], r["sample_index"], r["id"])
            if rows:
                dst.execute(table.insert(), rows)
    old.dispose()
    new.dispose()


def _schema_differences(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cowest.storage import Base

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    return diffs


@pytest.fixture(params=["sqlite", "postgresql"])
def old_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("pg_url")


@pytest.mark.slow
def test_a_store_written_by_0_1_is_refused_then_upgraded_and_resumes_without_a_call(
    server, data, tiny_model, tmp_path, old_url, capsys, monkeypatch
):
    new_url = f"sqlite:///{tmp_path / 'new.db'}"
    first = collect(options(data, tiny_model, new_url), progress=False)
    _build_old_store(new_url, old_url)
    with pytest.raises(StoreError, match="cowest db upgrade"):
        get_store(old_url)
    assert main(["runs", "--db", old_url]) == 2

    # the keys it writes come from the store and the flag, never from the shell's environment
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/elsewhere")
    assert main(["db", "upgrade", "--db", old_url, "--openai-base-url", server.url]) == 0
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    assert f"schema 0001 -> {HEAD}" in capsys.readouterr().out
    assert _schema_differences(old_url) == []  # the migrations build exactly the schema the code declares
    assert main(["db", "upgrade", "--db", old_url]) == 0
    assert "up to date" in capsys.readouterr().out

    sent = len(server.requests)
    again = collect(options(data, tiny_model, old_url), progress=False)
    assert len(server.requests) == sent  # every call was found under its new key
    assert again.pairs == first.pairs
    assert again.spending.reused == first.spending.sent + first.spending.reused == QUERIES * (2 * K + 2)
    assert_pairs_are_algorithm_1(old_url, "a")
    calls = calls_of(old_url, "a")
    assert len(calls) == len(calls_of(new_url, "a"))  # no row added, none lost
    assert all(c.content_key for c in calls) and sum(c.billed for c in calls) == QUERIES * (2 * K + 2)
