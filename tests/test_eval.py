"""`cowest eval`, `cowest score`, `cowest report` with the tiny model and a scripted strong model."""

import json

import pytest
from conftest import write_jsonl
from scripted_server import ScriptedServer

from cowest.cli import main

pytestmark = pytest.mark.slow


def strong_script(prompt: str) -> str:
    # The strong model answers A / "needs caution" / "Paris" whatever it is shown: scores are then known.
    if "Choose one class" in prompt:
        return "Explanation: e.\nAnswer: needs caution"
    if "\nA. " in prompt:
        return "Explanation: e.\nAnswer: A"
    return "Explanation: e.\nAnswer: Paris"


def task_files(tmp_path):
    ifqa = tmp_path / "ifqa.json"
    ifqa.write_text(
        json.dumps(
            [
                {
                    "idx": i,
                    "question": f"If {i}, what city?",
                    "answers": ["Paris" if i < 3 else "Rome"],
                    "context": ["Some text."],
                }
                for i in range(5)
            ]
        )
    )
    med = write_jsonl(
        tmp_path / "med.jsonl",
        [
            {
                "id": f"m{i}",
                "question": f"Q{i}?",
                "opa": "a",
                "opb": "b",
                "opc": "c",
                "opd": "d",
                "cop": 1 if i < 4 else 2,
            }
            for i in range(5)
        ],
    )
    pro = write_jsonl(
        tmp_path / "pro.jsonl",
        [{"context": f"utterance {i}", "label3": "needs caution" if i < 2 else "casual"} for i in range(5)],
    )
    return {"ifqa": ifqa, "medmcqa": med, "prosocial": pro}


def test_eval_three_methods_on_three_tasks_then_report(tmp_path, tiny_model, db_url, monkeypatch, capsys):
    files = task_files(tmp_path)
    with ScriptedServer(strong_script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        for task, path in files.items():
            code = main(
                [
                    "eval",
                    "--task",
                    task,
                    "--data",
                    str(path),
                    "--limit",
                    "5",
                    "--methods",
                    "weak,strong-cot,collab",
                    "--weak",
                    f"huggingface:{tiny_model}",
                    "--strong",
                    "openai:scripted",
                    "--max-new-tokens",
                    "8",
                    "--db",
                    db_url,
                ]
            )
            assert code == 0
        out = capsys.readouterr().out
        requests = len(srv.requests)
        # Rerunning reuses every stored call.
        assert (
            main(
                [
                    "eval",
                    "--task",
                    "medmcqa",
                    "--data",
                    str(files["medmcqa"]),
                    "--methods",
                    "strong-cot,collab",
                    "--weak",
                    f"huggingface:{tiny_model}",
                    "--strong",
                    "openai:scripted",
                    "--max-new-tokens",
                    "8",
                    "--db",
                    db_url,
                ]
            )
            == 0
        )
        assert len(srv.requests) == requests
    assert "exact_match" in out and "accuracy" in out
    from cowest.storage import get_store

    results = {(e.task, e.method): e for e in get_store(db_url).evals()}
    assert len(results) == 9
    # The scripted strong model: IfQA "Paris" right on 3 of 5, MedMCQA "A" on 4 of 5, Prosocial caution on 2 of 5.
    assert results[("ifqa", "strong-cot")].metrics["exact_match"] == pytest.approx(0.6)
    assert results[("medmcqa", "strong-cot")].metrics["accuracy"] == pytest.approx(0.8)
    assert results[("medmcqa", "collab")].metrics["accuracy"] == pytest.approx(0.8)
    assert results[("prosocial", "strong-cot")].metrics["accuracy"] == pytest.approx(0.4)
    # gold: 2 caution, 3 casual; all predicted caution -> caution F1 = 2*2/(2*2+3+0), the others 0
    assert results[("prosocial", "strong-cot")].metrics["macro_f1"] == pytest.approx((4 / 7) / 3)
    assert results[("medmcqa", "weak")].strong_calls == 0 and results[("medmcqa", "collab")].strong_calls == 5
    assert results[("medmcqa", "strong-cot")].strong_tokens > 0

    assert main(["report", "--out", str(tmp_path / "report"), "--db", db_url]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| Method |" in md and "collab" in md and "MedMCQA Acc" in md
    assert "80.0 [37.6, 96.4] (n=5, u=0)" in md  # strong-cot on MedMCQA: 4 of 5, Wilson's interval
    pngs = list((tmp_path / "report").glob("*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
    assert "(strong_cost.png)" in md


def test_score_predictions_file(tmp_path, capsys):
    files = task_files(tmp_path)
    preds = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "m0", "answer": "a"},
            {"id": "m1", "output": "Explanation: x\nAnswer: (A)"},
            {"id": "m2", "answer": "B"},
            {"id": "m3", "output": "no idea"},
        ],
    )  # m4 missing
    assert (
        main(["score", "--task", "medmcqa", "--data", str(files["medmcqa"]), "--predictions", str(preds), "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 5 and result["unparseable"] == 2 and result["accuracy"] == pytest.approx(0.4)
    # gold A A A A B; predicted A A B - -: A: tp2 fp0 fn2 -> 2/3; B: tp0 fp1 fn1 -> 0; C, D: 0
    assert result["macro_f1"] == pytest.approx((2 / 3) / 4)

    ifqa_preds = write_jsonl(tmp_path / "i.jsonl", [{"id": 0, "answer": "the Paris"}, {"id": 3, "answer": "Rome city"}])
    assert (
        main(["score", "--task", "ifqa", "--data", str(files["ifqa"]), "--predictions", str(ifqa_preds), "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["exact_match"] == pytest.approx(1 / 5) and result["f1"] == pytest.approx((1 + 2 / 3) / 5)


def test_score_rejects_unknown_ids(tmp_path, capsys):
    files = task_files(tmp_path)
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "zzz", "answer": "A"}])
    assert main(["score", "--task", "medmcqa", "--data", str(files["medmcqa"]), "--predictions", str(preds)]) == 2
    assert "not in the data" in capsys.readouterr().err


def test_self_refine_and_supericl_modes(tmp_path, tiny_model, db_url, monkeypatch):
    from collections import Counter

    from cowest.evaluation import EvalOptions, evaluate
    from cowest.storage import get_store

    files = task_files(tmp_path)
    with ScriptedServer(strong_script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        results = evaluate(
            EvalOptions(
                task="medmcqa",
                data=str(files["medmcqa"]),
                limit=3,
                db=db_url,
                methods=["strong-self-refine", "weak-self-refine", "supericl"],
                weak=f"huggingface:{tiny_model}",
                strong="openai:scripted",
                max_new_tokens=8,
            ),
            progress=False,
        )
        prompts = [r["messages"][-1]["content"] for r in srv.requests]
    by = {r.method: r for r in results}
    # The strong model keeps its answer "A" when asked to check it: one revision per query, then stop.
    store = get_store(db_url)
    calls = store.calls_of(store.run_id(f"eval-medmcqa-{results[0].data_hash[:8]}"))
    revisions = Counter((c.model, c.role) for c in calls if c.role == "self_refine")
    assert revisions[("openai:scripted", "self_refine")] == 3
    assert by["strong-self-refine"].metrics["accuracy"] == pytest.approx(1.0)  # gold A for the first 3
    assert by["strong-self-refine"].strong_calls == 6  # 3 solo answers + 3 revisions
    assert by["weak-self-refine"].strong_calls == 0
    supericl = [p for p in prompts if p.startswith("A small model trained for this task")]
    assert len(supericl) == 3 and all("(its confidence: " in p for p in supericl)


def test_answer_confidence_is_a_probability(tiny_model):
    from cowest.models import get_model

    model = get_model(f"huggingface:{tiny_model}")
    prompt = [{"role": "user", "content": "Pick one."}]
    p = model.answer_confidence(prompt, "Explanation: x\nAnswer: A", "A")
    assert p is not None and 0.0 < p <= 1.0
    assert model.answer_confidence(prompt, "Explanation: x", "B") is None  # answer not in the text


def test_eval_prints_intervals_and_compares_methods_paired(tmp_path, tiny_model, db_url, monkeypatch, capsys):
    files = task_files(tmp_path)
    base = ["--task", "medmcqa", "--data", str(files["medmcqa"]), "--weak", f"huggingface:{tiny_model}"]
    base += ["--strong", "openai:scripted", "--max-new-tokens", "8", "--db", db_url]
    with ScriptedServer(strong_script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        argv = ["eval", *base, "--methods", "weak,strong-cot,collab", "--against", "weak", "--json"]
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        by = {r["method"]: r for r in out["results"]}
        # the scripted strong model answers A: right on 4 of 5; Wilson's interval of 4/5
        acc = by["strong-cot"]["intervals"]["accuracy"]
        assert (acc["value"], acc["n"], acc["method"]) == (0.8, 5, "wilson")
        assert acc["low"] == pytest.approx(0.3755, abs=1e-4) and acc["high"] == pytest.approx(0.9638, abs=1e-4)
        assert by["strong-cot"]["intervals"]["macro_f1"]["method"] == "bootstrap"
        versus = {c["b"]["method"]: c for c in out["comparisons"]}
        assert set(versus) == {"strong-cot", "collab"} and all(c["a"]["method"] == "weak" for c in versus.values())
        d = versus["strong-cot"]["differences"]["accuracy"]
        weak_acc = by["weak"]["metrics"]["accuracy"]
        assert d["diff"] == pytest.approx(0.8 - weak_acc) and d["n"] == 5
        assert d["b_only"] + d["a_only"] >= round(abs(0.8 - weak_acc) * 5) and 0 < d["p_value"] <= 1

        # The same table on the terminal, every metric with its interval
        assert main(["eval", *base, "--methods", "weak,strong-cot", "--against", "weak"]) == 0
        text = capsys.readouterr().out
        assert "accuracy [95% CI]" in text and "0.800 [0.376, 0.964]" in text
        assert "strong-cot (eval " in text and "McNemar p" in text

        # compare by label; a different query set (3 rows) is refused with the difference named
        assert main(["compare", "weak", "strong-cot", "--db", db_url]) == 0
        assert "paired over the same 5 queries" in capsys.readouterr().out
        assert main(["eval", *base, "--methods", "strong", "--limit", "3", "--run", "short"]) == 0
        capsys.readouterr()
        assert main(["compare", "strong-cot", "strong", "--db", db_url]) == 2
        err = capsys.readouterr().err
        assert "different query sets: 2 queries only in the first, 0 only in the second" in err
    assert main(["eval", *base, "--methods", "weak", "--against", "collab"]) == 2
    assert "--against collab: not one of the methods run" in capsys.readouterr().err
