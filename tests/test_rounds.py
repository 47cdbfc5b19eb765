"""`cowest rounds`: two rounds on the tiny model with a scripted strong model; resume trains nothing twice."""

import os
from collections import Counter

import pytest
import torch
from conftest import write_jsonl
from scripted_server import ScriptedServer, kind_of, section

from cowest.cli import main
from cowest.storage import get_store

pytestmark = pytest.mark.slow


def questions(tmp_path, n: int):
    """A MedMCQA file of `n` questions."""
    rows = [
        {"id": f"q{i}", "question": f"Question {i}?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1}
        for i in range(n)
    ]
    return write_jsonl(tmp_path / "m.jsonl", rows)


def script(prompt: str) -> str:
    kind = kind_of(prompt)
    if kind == "judge":
        return "10" if "Answer: A" in section(prompt, "Model output:") else "3"
    if kind == "refine":
        draft = section(prompt, "Expert model's answer:")
        return f"Explanation: e.\nAnswer: {'AB'[sum(draft.encode()) % 2]}"
    return "Explanation: e.\nAnswer: C"


def test_two_rounds_then_resume_trains_nothing_twice(tiny_model, tmp_path, db_url, monkeypatch, capsys):
    data = questions(tmp_path, 6)
    with ScriptedServer(script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        argv = [
            "rounds",
            "--task",
            "medmcqa",
            "--data",
            str(data),
            "--limit",
            "3",
            "--samples",
            "4",
            "--run",
            "loop",
            "--weak",
            f"huggingface:{tiny_model}",
            "--strong",
            "openai:scripted",
            "--max-new-tokens",
            "10",
            "--db",
            db_url,
            "--out",
            str(tmp_path / "adapters"),
            "--fresh-queries",
            "--max_steps",
            "2",
            "--grad-accum",
            "1",
            "--concurrency",
            "1",
        ]
        torch.manual_seed(0)
        # As if killed right after round 1: the same command with --rounds 1, then with --rounds 2.
        assert main(argv + ["--rounds", "1"]) == 0
        store = get_store(db_url)
        r1 = store.adapter(store.run_id("loop"), 1)
        r1_mtime = os.path.getmtime(os.path.join(r1.path, "adapter_model.safetensors"))
        assert main(argv + ["--rounds", "2"]) == 0
        out = capsys.readouterr().out
        assert "done earlier" in out and "trained" in out
        # TRL's step logs (raw dicts) went to the log beside each round's folder, not the terminal
        assert "'loss'" not in out and "'loss'" in (tmp_path / "adapters" / "loop" / "round-1.log").read_text()
        rows = store.adapters_of(store.run_id("loop"))
        assert [r.round for r in rows] == [1, 2]
        assert rows[0].id == r1.id
        assert os.path.getmtime(os.path.join(r1.path, "adapter_model.safetensors")) == r1_mtime
        assert rows[1].parent_id == r1.id and rows[1].path != r1.path
        # Round 2 drafted with adapter 1, on a fresh slice of the data.
        calls = store.calls_of(store.run_id("loop"), 2)
        assert {c.adapter for c in calls if c.role == "weak_draft"} == {r1.path}
        queries = store.queries_of(store.run_id("loop"))
        assert {queries[c.query_id].qid for c in calls if c.role == "weak_draft"} == {"q3", "q4", "q5"}

        requests = len(srv.requests)
        assert main(argv + ["--rounds", "2"]) == 0
        assert len(srv.requests) == requests  # nothing new was asked of the strong model
        assert [r.id for r in store.adapters_of(store.run_id("loop"))] == [r.id for r in rows]
        out = capsys.readouterr().out
        assert out.count("done earlier") == 2
        # the table keeps what each round cost; the summary says what this command spent: nothing
        assert "this command (earlier rounds cost nothing now): strong/judge requests: 0 sent" in out
        assert Counter(kind_of(r["messages"][-1]["content"]) for r in srv.requests)["solo"] == 6


def test_a_weak_model_served_by_vllm_drafts_each_round_with_the_adapter_loaded_at_run_time(
    tiny_model, tmp_path, db_url, monkeypatch
):
    """The weak model is an openai: spec (vLLM); DPO trains its local weights (--train-base), and
    round 2 loads adapter 1 into the server through /load_lora_adapter and drafts with it by name."""
    import random

    draws = random.Random(0)
    data = questions(tmp_path, 4)
    with ScriptedServer(lambda prompt: f"Explanation: draft {draws.random()}.\nAnswer: A") as srv:
        srv.scripts_by_model["scripted"] = script  # the strong model and judge; any other name is the weak one
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        argv = ["rounds", "--task", "medmcqa", "--data", str(data), "--samples", "4", "--run", "loop"]
        argv += ["--weak", "openai:served", "--train-base", f"huggingface:{tiny_model}", "--strong", "openai:scripted"]
        argv += ["--max-new-tokens", "10", "--db", db_url, "--out", str(tmp_path / "adapters"), "--rounds", "2"]
        argv += ["--max_steps", "1", "--grad-accum", "1"]
        torch.manual_seed(0)
        assert main(argv) == 0
    store = get_store(db_url)
    first = store.adapter(store.run_id("loop"), 1)
    assert first.path and first.base_model == tiny_model
    assert srv.loras == {"loop-round-1": os.path.realpath(first.path)}
    drafted_by = Counter(r["model"] for r in srv.requests if r["model"] != "scripted")
    assert drafted_by == {"served": 4, "loop-round-1": 4}  # one request of n=4 per query and round
    round_2 = store.calls_of(store.run_id("loop"), 2)
    assert {c.model for c in round_2 if c.role == "weak_draft"} == {"openai:loop-round-1"}


def test_kto_rounds_train_on_every_judged_draft_and_resume_like_dpo(tiny_model, tmp_path, db_url, monkeypatch, capsys):
    data = questions(tmp_path, 6)
    with ScriptedServer(script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        argv = ["rounds", "--task", "medmcqa", "--data", str(data), "--limit", "3", "--samples", "4", "--run", "k"]
        argv += ["--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted", "--max-new-tokens", "10"]
        argv += ["--db", db_url, "--out", str(tmp_path / "adapters"), "--fresh-queries", "--objective", "kto"]
        argv += ["--max_steps", "2", "--grad-accum", "1", "--batch-size", "2", "--rounds", "2"]
        torch.manual_seed(0)
        assert main(argv) == 0
        store = get_store(db_url)
        run_id = store.run_id("k")
        rows = store.adapters_of(run_id)
        assert [(r.round, r.kind) for r in rows] == [(1, "kto"), (2, "kto")]
        assert rows[1].parent_id == rows[0].id and rows[0].path.endswith("round-1-kto")
        for row in rows:
            examples = store.examples_of(run_id, row.round)
            assert sorted(row.example_ids) == [e.id for e in examples]
            # every draft of the round took a side (no call failed), where a query's pairs use 2 x min(|Y+|, |Y-|)
            assert len(examples) == row.metrics["drafts"] == 12
            positives = {
                q: sum(e.desirable for e in examples if e.query_id == q) for q in {e.query_id for e in examples}
            }
            pairs = sum(min(p, 4 - p) for p in positives.values())
            assert row.metrics["pairs"] == pairs == len(store.pairs_of(run_id, row.round))
            assert row.metrics["desirable"] == row.metrics["positives"] == sum(e.desirable for e in examples)
            assert abs(row.metrics["first_kl"]) < 1e-4  # step 1: the reference is the policy it starts from
        assert store.adapter(run_id, 1, "dpo") is None
        requests = len(srv.requests)
        capsys.readouterr()
        assert main(argv) == 0
        assert len(srv.requests) == requests
        assert capsys.readouterr().out.count("done earlier") == 2


def test_heldout_curve_per_round_with_paired_differences_and_the_overlap_check(
    tiny_model, tmp_path, db_url, monkeypatch, capsys
):
    """--eval-data: round 0 (no adapter) and each round's adapter are evaluated on held-out rows, as
    `eval` stores them; each round shows its interval and the paired difference to the one before and
    to round 0 (equal to `cowest compare` of the stored rows). Held-out rows that are training rows
    are refused before anything is asked or written."""
    from cowest.evidence import compare

    data = questions(tmp_path, 10)
    with ScriptedServer(script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        argv = ["rounds", "--task", "medmcqa", "--data", str(data), "--limit", "4", "--samples", "4"]
        argv += ["--run", "h", "--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted"]
        argv += ["--max-new-tokens", "10", "--db", db_url, "--out", str(tmp_path / "adapters")]
        argv += ["--max_steps", "1", "--grad-accum", "1", "--rounds", "2", "--eval-data", str(data)]

        assert main(argv + ["--eval-limit", "6"]) == 2  # rows 1-4 train and would be evaluated too
        err = capsys.readouterr().err
        assert "--eval-data shares 4 of its 6 queries with the training queries (ids q0, q1, q2, q3)" in err
        assert srv.requests == [] and not os.path.exists(db_url.removeprefix("sqlite:///"))

        heldout = write_jsonl(tmp_path / "held.jsonl", [dict(r, id=f"h{i}") for i, r in enumerate(_rows(6))])
        argv[argv.index(str(data), argv.index("--eval-data"))] = str(heldout)
        torch.manual_seed(0)
        assert main(argv) == 0
        out = capsys.readouterr().out
    assert "held-out [95% CI]" in out and "vs round 0 [95% CI]" in out
    store = get_store(db_url)
    evals = store.evals(store.run_id("h-heldout"))
    adapters = [a.path for a in store.adapters_of(store.run_id("h"))]
    assert [e.adapter for e in evals] == ["", *adapters] and all(e.n == 6 for e in evals)
    assert all(e.method == "collab" for e in evals)
    held_out_table = out[out.index("held-out [95% CI]") :]  # the second table: one row per round
    line = [row for row in held_out_table.splitlines() if row.split()[:1] == ["2"]][0]
    assert max(len(row) for row in out[out.index("round  objective") :].splitlines()) <= 120
    vs_previous, vs_start = compare(evals[1], evals[2])["accuracy"], compare(evals[0], evals[2])["accuracy"]
    for d in (vs_previous, vs_start):
        assert f"{d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}]" in line


def _rows(n):
    return [{"question": f"Held-out {i}?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1} for i in range(n)]


def test_stop_when_no_gain_ends_the_loop_after_a_round_that_did_not_help(
    tiny_model, tmp_path, db_url, monkeypatch, capsys
):
    """The strong model answers A whatever the draft: no round can change the held-out accuracy,
    so the paired gain of round 1 is exactly 0 and the loop stops there (exit 0)."""
    data = questions(tmp_path, 4)
    heldout = write_jsonl(tmp_path / "held.jsonl", [dict(r, id=f"h{i}") for i, r in enumerate(_rows(5))])
    with ScriptedServer(lambda p: "10" if kind_of(p) == "judge" else "Explanation: e.\nAnswer: A") as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        argv = ["rounds", "--task", "medmcqa", "--data", str(data), "--samples", "2", "--run", "s"]
        argv += ["--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted", "--max-new-tokens", "6"]
        argv += ["--db", db_url, "--out", str(tmp_path / "adapters"), "--rounds", "3"]
        argv += ["--eval-data", str(heldout), "--stop-when-no-gain", "--max_steps", "1"]
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert "stopped: held-out gain over round 0 does not lie above 0" in out
    store = get_store(db_url)
    assert [a.round for a in store.adapters_of(store.run_id("s"))] == [1]
    assert len(store.evals(store.run_id("s-heldout"))) == 1  # round 1 kept round 0's (bare) model


def test_a_second_rounds_on_a_run_waits_for_the_round_being_trained_and_trains_it_no_more(tiny_model, tmp_path, db_url):
    """Two operators, one run: while one process trains round 1, a second `cowest rounds` waits
    (saying so) and then takes the round the first recorded instead of training it again into the
    same folder."""
    import subprocess
    import sys
    import time

    from cowest.rounds import training_lock
    from cowest.storage import Adapter

    data = questions(tmp_path, 3)
    out = tmp_path / "adapters"
    with ScriptedServer(script) as srv:
        env = {**os.environ, "OPENAI_BASE_URL": srv.url, "OPENAI_API_KEY": "none"}
        argv = [sys.executable, "-m", "cowest.cli", "rounds", "--task", "medmcqa", "--data", str(data)]
        argv += ["--limit", "3", "--samples", "4", "--run", "two", "--weak", f"huggingface:{tiny_model}"]
        argv += ["--strong", "openai:scripted", "--max-new-tokens", "10", "--db", db_url, "--out", str(out)]
        argv += ["--rounds", "1", "--max_steps", "1", "--grad-accum", "1"]
        with training_lock(str(out / "two" / "round-1")):  # the first operator, training round 1
            second = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            deadline = time.time() + 180
            line = ""
            while "waiting" not in line:
                line = second.stderr.readline()
                assert line or second.poll() is None, "the second operator ended without waiting"
                assert time.time() < deadline
            store = get_store(db_url)
            theirs = out / "two" / "round-1"
            theirs.mkdir(parents=True)
            store.save_adapter(
                Adapter(
                    run_id=store.run_id("two"),
                    round=1,
                    kind="dpo",
                    path=str(theirs),
                    base_model=tiny_model,
                    reference="base",
                    pair_ids=[],
                    metrics={"note": "the first operator's"},
                )
            )
        stdout, _ = second.communicate(timeout=120)
    assert second.returncode == 0, stdout[-2000:]
    (row,) = get_store(db_url).adapters_of(get_store(db_url).run_id("two"))
    assert row.path == str(theirs) and row.metrics["note"] == "the first operator's"
    assert not (theirs / "adapter_model.safetensors").exists()  # the second did not train into it
