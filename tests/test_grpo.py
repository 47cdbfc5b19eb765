"""GRPO rounds: the reward of a completion is the judge's score of the strong model's refinement of
it minus E_z, computed through the call layer (stored, reused, budgeted); a missing reward is never
a 0; `rounds --objective grpo` trains and records a round like DPO does."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import write_jsonl
from scripted_server import kind_of
from test_collect_graph import mcq, script

from cowest.cli import main
from cowest.grpo_round import ensure_queries, reward_context
from cowest.nodes.ledger import Ledger
from cowest.options import RoundsOptions
from cowest.rewards import RewardTally, collaborative_reward
from cowest.storage import get_store
from cowest.tasks import get_task
from cowest.tasks.prompts import strong_refine_prompt

pytestmark = pytest.mark.slow  # the scripted server, and training


def scripted(prompt: str) -> str:
    """The tests' script, where a refinement of a draft saying NOJUDGE is one the judge cannot score."""
    if kind_of(prompt) == "refine" and "NOJUDGE" in prompt:
        return "Explanation: NOJUDGE.\nAnswer: A"
    return script(prompt)


def rewards_for(opts: RoundsOptions, data: str, completions: dict[str, list[str]], ledger: Ledger, tally):
    ctx = reward_context(opts, "g", 1)
    examples = get_task("medmcqa").load(data).examples
    ensure_queries(get_store(ctx.db), ctx, opts, examples)
    reward = collaborative_reward(ctx, {ex.id: ex for ex in examples}, 3, ledger, tally)
    ids = [qid for qid, texts in completions.items() for _ in texts]
    texts = [[{"role": "assistant", "content": t}] for group in completions.values() for t in group]
    return asyncio.run(reward(prompts=[None] * len(ids), completions=texts, query_id=ids))


def expected(draft: str) -> float:
    """What the script makes of `draft`: its refinement answers A, B or C (by a checksum of the draft),
    which the judge scores 10, 6 or 1; the solo answer is B, scored 6 (E_z)."""
    refined = script(strong_refine_prompt("any question", draft)[-1]["content"]).rsplit("Answer: ", 1)[1]
    return {"A": 10, "B": 6, "C": 1}[refined] - 6


def test_the_reward_is_the_refinements_score_minus_e_z_stored_and_never_paid_twice(serve, tiny_model, tmp_path, db_url):
    server = serve(scripted)
    data = str(write_jsonl(tmp_path / "q.jsonl", [mcq(i, f"Question number {i}?") for i in range(2)]))
    opts = RoundsOptions(
        task="medmcqa", data=data, rounds=1, objective="grpo", run="g", db=db_url,
        weak=f"huggingface:{tiny_model}", strong="openai:scripted", samples=3, max_new_tokens=8,
    )  # fmt: skip
    drafts = {"q0": ["Answer: A", "Answer: B", "Answer: C"], "q1": ["one", "NOJUDGE two", "three"]}
    tally = RewardTally()
    rewards = rewards_for(opts, data, drafts, Ledger(), tally)
    # the NOJUDGE draft's refinement is not scored: it gets its group's mean (advantage 0), not a 0
    q1 = [expected("one"), expected("three")]
    assert rewards[:3] == [expected(d) for d in drafts["q0"]]
    assert rewards[3:] == [q1[0], sum(q1) / 2, q1[1]]
    assert (tally.groups, tally.completions, tally.missing, tally.empty_groups) == (2, 6, 1, 0)
    assert tally.beat_solo == sum(r > 0 for r in [expected(d) for d in drafts["q0"]] + q1)  # Algorithm 1's positives
    store = get_store(db_url)
    calls = store.calls_of(store.run_id("g"))
    refines = [c for c in calls if c.role == "strong_refine"]
    assert len(refines) == 6 and {c.round for c in refines} == {1}
    sent = len(server.requests)
    again = rewards_for(opts, data, drafts, ledger := Ledger(), RewardTally())
    assert again == rewards and len(server.requests) == sent  # every reward read back from the store
    assert ledger.billed_sent == 0 and ledger.billed_reused > 0


def test_rounds_objective_grpo_trains_records_and_resumes(serve, tiny_model, tmp_path, db_url, capsys):
    server = serve(scripted)
    data = str(write_jsonl(tmp_path / "q.jsonl", [mcq(i, f"Question number {i}?") for i in range(4)]))
    argv = ["rounds", "--objective", "grpo", "--task", "medmcqa", "--data", data, "--rounds", "1", "--run", "g"]
    argv += ["--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted", "--samples", "2"]
    argv += ["--max-new-tokens", "8", "--db", db_url, "--out", str(tmp_path / "adapters"), "--preset", "small"]
    argv += ["--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    store = get_store(db_url)
    row = store.adapter(store.run_id("g"), 1, "grpo")
    assert row is not None and row.path.endswith("round-1-grpo")
    assert (tmp_path / "adapters" / "g" / "round-1-grpo" / "adapter_config.json").is_file()
    m = row.metrics
    assert m["steps"] == 4 and m["rewards"]["groups"] == 4 and m["rewards"]["completions"] == 8
    assert m["trainer_config"]["num_generations"] == 2 and m["preset"] == "small"
    assert m["spending"]["sent"] == len(server.requests)  # every request the rewards made is counted
    assert m["drafts_seen"]["drafts"] == 8 and 0 < m["drafts_seen"]["distinct_share"] <= 1
    r = m["rewards"]
    assert m["positives"] + m["negatives"] == r["completions"] - r["missing"]
    row_1 = next(line.split() for line in capsys.readouterr().out.splitlines() if line.split()[:2] == ["1", "grpo"])
    assert row_1[1:7] == ["grpo", "4", "8", str(m["positives"]), str(m["negatives"]), "-"]  # no pairs in GRPO
    assert row_1[-1] == f"{r['mean_reward']:.3f}"  # the margin/reward column: the round's mean reward
    assert main(["report", "--out", str(tmp_path / "report"), "--db", db_url]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert f"| g | 1 | grpo | 4 | 8 | {m['positives']} | - |" in md and f"| {r['mean_reward']:.3f} |" in md
    sent = len(server.requests)
    assert main(argv) == 0  # a finished round is not trained again
    assert len(server.requests) == sent and "done earlier" in capsys.readouterr().out
    config = json.loads((tmp_path / "adapters" / "g" / "round-1-grpo" / "trainer_config.json").read_text())
    assert config["num_generations"] == 2 and config["temperature"] == 1.0 and config["top_p"] == 0.9


def test_a_grpo_round_stopped_by_the_budget_pays_only_for_new_rewards_when_rerun(serve, tiny_model, tmp_path, capsys):
    server = serve(scripted)
    data = str(write_jsonl(tmp_path / "q.jsonl", [mcq(i, f"Question number {i}?") for i in range(4)]))

    def rounds(db: str, *extra: str) -> int:
        argv = ["rounds", "--objective", "grpo", "--task", "medmcqa", "--data", data, "--rounds", "1", "--run", "g"]
        argv += ["--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted", "--samples", "2"]
        argv += ["--max-new-tokens", "8", "--db", db, "--out", str(tmp_path / db[-6:-3]), "--seed", "3"]
        return main([*argv, "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", *extra])

    assert rounds(f"sqlite:///{tmp_path / 'one.db'}") == 0
    whole = len(server.requests)
    stopped_db = f"sqlite:///{tmp_path / 'two.db'}"
    assert rounds(stopped_db, "--max-strong-calls", "9") == 4  # the budget stops training mid-round
    first = len(server.requests) - whole
    store = get_store(stopped_db)
    assert store.adapter(store.run_id("g"), 1, "grpo") is None  # a round stopped early is not recorded
    assert rounds(stopped_db) == 0
    second = len(server.requests) - whole - first
    assert 0 < first <= 9 and first + second == whole  # the same completions again: none paid twice
    capsys.readouterr()


def test_train_grpo_trains_one_round_from_an_adapter_and_refuses_bad_input_before_the_store(
    serve, tiny_model, tmp_path, capsys, monkeypatch
):
    server = serve(scripted)
    monkeypatch.chdir(tmp_path)  # the default adapter folder is adapters/RUN/round-R-grpo under it
    data = str(write_jsonl(tmp_path / "q.jsonl", [mcq(i, f"Question number {i}?") for i in range(2)]))
    db = tmp_path / "t.db"
    argv = ["train", "grpo", "--task", "medmcqa", "--data", data, "--run", "g", "--db", f"sqlite:///{db}"]
    argv += ["--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted", "--samples", "2"]
    argv += ["--max-new-tokens", "8", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1"]
    assert main([*argv, "--from-adapter", str(tmp_path / "missing")]) == 2
    assert "not a PEFT adapter folder" in capsys.readouterr().err and not db.exists() and not server.requests
    assert main([*argv, "--num_generations", "3"]) == 2  # TRL refuses a batch of 2 in groups of 3: one line
    assert "--samples" in capsys.readouterr().err  # ...and the line names cowest's flag for it
    assert main([*argv, "--gradient_accumulation_steps", "4"]) == 2  # a step of 4 queries; the data has 2
    assert "a GRPO step takes 4 queries" in capsys.readouterr().err
    assert main([*argv, "--loss_type", "ipo"]) == 2  # DPO's loss, not GRPO's: refused before the models load
    assert "dr_grpo" in capsys.readouterr().err
    assert not db.exists() and not server.requests

    first = str(tmp_path / "first")
    assert main([*argv, "--out", first]) == 0, capsys.readouterr().err
    assert main([*argv, "--round", "2", "--from-adapter", first]) == 0, capsys.readouterr().err
    store = get_store(f"sqlite:///{db}")
    second = store.adapter(store.run_id("g"), 2, "grpo")
    assert second is not None and second.parent_path == first
    assert second.path == str((tmp_path / "adapters" / "g" / "round-2-grpo").resolve())
    assert {c.round for c in store.calls_of(store.run_id("g")) if c.role == "strong_refine"} == {1, 2}
    sent = len(server.requests)
    capsys.readouterr()
    assert main([*argv, "--round", "2", "--from-adapter", first]) == 0
    assert len(server.requests) == sent and "done earlier" in capsys.readouterr().out


def test_a_grpo_round_whose_rewards_never_differ_says_it_learned_nothing(serve, tiny_model, tmp_path, db_url, capsys):
    # every refinement answers B, as the solo answer does: every reward is 0 and so is every advantage
    serve(lambda prompt: "Explanation: the same.\nAnswer: B" if kind_of(prompt) == "refine" else script(prompt))
    data = str(write_jsonl(tmp_path / "q.jsonl", [mcq(i, f"Question number {i}?") for i in range(4)]))
    argv = ["rounds", "--objective", "grpo", "--task", "medmcqa", "--data", data, "--rounds", "1", "--run", "g"]
    argv += ["--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted", "--samples", "2"]
    argv += ["--max-new-tokens", "8", "--db", db_url, "--out", str(tmp_path / "adapters"), "--preset", "small"]
    argv += ["--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "trained; no group's rewards differed, so nothing was learned" in " ".join(out.split())
