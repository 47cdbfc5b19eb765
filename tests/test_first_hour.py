"""What a newcomer types in the first hour, mistakes included: each answer is one line, and bad
input exits 2 (the exit-code contract) without leaving anything behind."""

import json

import pytest
from conftest import write_jsonl
from test_collect_graph import mcq

from cowest.cli import main


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse's own exits: --version, a flag it rejects
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("cowest ")


@pytest.mark.parametrize(
    "argv, hint",
    [
        (["collect", "--task", "medmqca", "--data", "x.jsonl"], "unknown task 'medmqca' (did you mean medmcqa?)"),
        (["eval", "--task", "medmcqa", "--methods", "colab"], "unknown method(s) colab (did you mean collab?)"),
        (["eval", "--task", "medmcqa", "--methods", "collab", "--formats", "kot"], "(did you mean cot?)"),
        (["collect", "--task", "medmcqa", "--limt", "3"], "unrecognized arguments: --limt 3 (did you mean --limit?)"),
        (["runs", "--dbb=x.db"], "cowest runs: error: unrecognized arguments: --dbb=x.db (did you mean --db?)"),
        (["collect", "--tsk", "medmcqa"], "--task; --tsk is not a flag of cowest collect (did you mean --task?)"),
        (["collect", "--task", "medmcqa", "--json"], "unrecognized arguments: --json (see"),  # no far-fetched guess
    ],
)
def test_a_typo_gets_did_you_mean_in_one_line(capsys, argv, hint):
    code, _, err = run(capsys, *argv)
    assert code == 2 and hint in err and len(err.strip().splitlines()) == 1
    assert "parse_methods" not in err and "parse_formats" not in err and "usage:" not in err


def test_a_yaml_syntax_error_names_line_and_column(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nquery: a\n gold: b\n")
    code, _, err = run(capsys, "collect", "--task", str(bad), "--data", "x")
    assert code == 2 and f"{bad}:3:6: not valid YAML (mapping values are not allowed here)" in err


@pytest.mark.parametrize("command", [["runs"], ["report"], ["traces", "export", "--run", "r", "--out", "t.jsonl"]])
def test_reading_commands_never_create_a_store(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    for db in ("typo.db", f"sqlite:///{tmp_path}/typo.db"):
        code, _, err = run(capsys, *command, "--db", db)
        assert code == 2 and "typo.db: no such store" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_db_upgrade_and_plan_never_create_a_store(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = write_jsonl(tmp_path / "q.jsonl", [mcq(0, "Question 0?")])
    code, _, err = run(capsys, "db", "upgrade", "--db", "typo.db")
    assert code == 2 and "typo.db: no such store, nothing to upgrade" in err
    code, out, _ = run(capsys, "plan", "collect", "--task", "medmcqa", "--data", str(data), "--db", "typo.db")
    assert code == 0 and "no store at typo.db yet (the job creates it): every call is to send" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.jsonl"]  # a plan writes nothing


def test_a_bare_path_is_a_sqlite_store(capsys, tmp_path, monkeypatch):
    from cowest.storage import get_store

    monkeypatch.chdir(tmp_path)
    get_store("mine.db").ensure_run("myrun", "medmcqa")
    code, out, err = run(capsys, "runs", "--db", "mine.db")
    assert code == 0 and "myrun" in out and err == ""
    assert (tmp_path / "mine.db").exists()


def capitals_task(tmp_path):
    write_jsonl(tmp_path / "caps.jsonl", [{"key": k, "capital": c} for k, c in [("fr", "Paris"), ("it", "Rome")]])
    task = tmp_path / "caps.yaml"
    task.write_text('name: caps\ndata: caps.jsonl\nid: key\nquery: "Capital of {{ key }}?"\ngold: capital\n')
    return task


def test_score_reads_the_task_files_data_and_prints_intervals(capsys, tmp_path):
    task = capitals_task(tmp_path)
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "fr", "answer": "Paris"}, {"id": "it", "answer": "Milan"}])
    code, out, err = run(capsys, "score", "--task", str(task), "--predictions", str(preds))
    assert code == 0, err
    # one of two right: Wilson's 95% interval, and n beside it, as `eval` prints them
    assert out.split() == ["exact_match", "0.500", "[0.095,", "0.905]", "f1", "0.500", "[0.000,", "1.000]"] + [
        "n",
        "2",
        "unparseable",
        "0",
        "missing",
        "0",
    ]
    code, out, _ = run(capsys, "score", "--task", str(task), "--predictions", str(preds), "--json")
    result = json.loads(out)
    assert result["n"] == 2 and result["intervals"]["exact_match"]["low"] == pytest.approx(0.0945, abs=1e-3)


def test_score_without_data_for_a_built_in_task_is_one_line(capsys, tmp_path):
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "x", "answer": "A"}])
    code, _, err = run(capsys, "score", "--task", "medmcqa", "--predictions", str(preds))
    assert code == 2 and "--data is required" in err


def test_a_hub_dataset_offline_is_one_line_saying_what_to_download(capsys, tmp_path):
    import time

    started = time.monotonic()
    code, _, err = run(capsys, "score", "--task", "medmcqa", "--data", "hf:nobody/nothing", "--predictions", "p")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "not in the datasets cache" in err and "load_dataset('nobody/nothing')" in err
    assert time.monotonic() - started < 20  # no half minute of retries


def test_plan_prices_a_local_strong_model_and_judge_at_zero(capsys, tmp_path, data, tiny_model):
    local = f"huggingface:{tiny_model}"
    argv = ["plan", "collect", "--task", "medmcqa", "--data", data, "--weak", local, "--strong", local]
    argv += ["--samples", "2", "--db", f"sqlite:///{tmp_path}/p.db", "--price-in", "2.5", "--price-out", "10"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "strong_solo (local)" in out and "judge (local)" in out and "strong_refine (local)" in out
    assert "requests to send: at most 0 " in out and "$0.0000" in out and "priced at 0" in out


def test_the_collect_summary_says_what_happened_and_what_to_run_next():
    from cowest.collect import CollectSummary
    from cowest.console import collect_summary

    made = CollectSummary(run="demo", round=1, db="sqlite:///cowest.db", queries=4, drafts=16, positives=3, pairs=2)
    text = collect_summary(made)
    assert "2 preference pair(s)" in text and "stored in run demo" in text
    assert "next: cowest pairs export --run demo --round 1 --out pairs/" in text
    none = CollectSummary(run="demo", round=1, db="sqlite:///cowest.db", queries=4, drafts=16, negatives=16)
    assert "no pairs: a pair needs" in collect_summary(none) and "0 of 16 drafts did" in collect_summary(none)
    failed = CollectSummary(run="demo", round=1, db="x", queries=4, drafts=16, failed_calls=1)
    assert "next:" not in collect_summary(failed) and "--retry-failed" in collect_summary(failed)


def test_ask_says_at_once_that_local_models_take_a_while(capsys, tmp_path, tiny_model):
    local = f"huggingface:{tiny_model}"
    argv = ["ask", "Which organ makes insulin?", "--weak", local, "--strong", local, "--max-new-tokens", "4"]
    code, out, err = run(capsys, *argv, "--db", f"sqlite:///{tmp_path}/a.db")
    assert code == 0 and "run(s) on this machine: loading and answering take a minute" in err
    assert "--- answer" in out


@pytest.mark.parametrize(
    "group, first",
    [("train", "sft"), ("plan", "collect"), ("db", "upgrade"), ("pairs", "export")],
)
def test_a_command_of_sub_commands_given_alone_shows_its_own_help(capsys, group, first):
    code, out, _ = run(capsys, group)
    assert code == 2 and out.startswith(f"usage: cowest {group} ") and first in out
