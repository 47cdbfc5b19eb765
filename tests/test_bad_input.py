"""Bad input exits 2 with one line, before anything is written: out-of-range values, a missing or
foreign adapter, a file that is not a database (through `cowest collect` and `cowest runs`)."""

import pytest
from test_reliability import collect_argv

from cowest.cli import main
from cowest.storage import get_store

pytestmark = pytest.mark.slow  # loads a model


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--limit", "0"], "--limit must be at least 1"),
        (["--limit", "-1"], "--limit must be at least 1"),
        (["--concurrency", "0"], "--concurrency must be at least 1"),
        (["--temperature", "-1"], "--temperature must be 0 or more"),
        (["--top-p", "0"], "--top-p must be in (0, 1]"),
        (["--samples", "0"], "--samples must be at least 1"),
        (["--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
        (["--offset", "100"], "no usable rows"),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(capsys, data, tiny_model, db_url, tmp_path, extra, message):
    argv = collect_argv(data, tiny_model, db_url, *extra)
    argv[argv.index("openai:scripted")] = f"huggingface:{tiny_model}"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cowest.db").exists() or get_store(db_url).runs() == []


@pytest.mark.parametrize("objective", ["dpo", "kto"])
def test_training_from_a_missing_adapter_is_one_line_before_the_store_is_opened(objective, capsys, tmp_path):
    db = tmp_path / "none.db"
    argv = ["train", objective, "--run", "r", "--round", "1", "--from-adapter", str(tmp_path / "nope")]
    assert main([*argv, "--db", f"sqlite:///{db}"]) == 2
    err = capsys.readouterr().err
    assert "nope: not a PEFT adapter folder" in err and len(err.strip().splitlines()) == 1 and not db.exists()


def test_a_missing_or_foreign_adapter_is_bad_input(capsys, data, tiny_model, db_url, tmp_path):
    argv = collect_argv(data, tiny_model, db_url)
    argv[argv.index("openai:scripted")] = f"huggingface:{tiny_model}"
    argv[argv.index(f"huggingface:{tiny_model}")] = f"huggingface:{tiny_model}@/no/such/dir"
    assert main(argv) == 2 and "adapter folder not found" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "adapter_config.json").write_text('{"base_model_name_or_path": "meta-llama/Llama-3-8B"}')
    argv[argv.index(f"huggingface:{tiny_model}@/no/such/dir")] = f"huggingface:{tiny_model}@{foreign}"
    assert main(argv) == 2 and "was trained on meta-llama/Llama-3-8B" in capsys.readouterr().err
    assert not (tmp_path / "cowest.db").exists() or get_store(db_url).runs() == []


def test_a_file_that_is_not_a_database_is_bad_input(capsys, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database\n" * 100)
    assert main(["runs", "--db", f"sqlite:///{junk}"]) == 2
    err = capsys.readouterr().err
    assert "cannot open database" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["pairs", "examples", "traces"])
def test_an_export_path_the_system_refuses_is_one_line(command, capsys, tmp_path, db_url):
    get_store(db_url).ensure_run("r", "open")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert main([command, "export", "--run", "r", "--out", str(a_file / "out"), "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cowest: error: cannot write {a_file}") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["../../ESCAPED", "a/b", "with\nnewline", "\x1b[31mred", ".."])
def test_a_run_name_that_is_a_path_or_holds_control_characters_is_refused(name, capsys, tmp_path, data, db_url):
    """Run names become folders (OUT/RUN/round-N) and are printed: no separators, no control characters."""
    out = tmp_path / "adapters" / "sub"
    argv = ["rounds", "--task", "medmcqa", "--data", data, "--rounds", "1", "--db", db_url, "--out", str(out)]
    code = main(argv + ["--run", name])
    err = capsys.readouterr().err
    assert code == 2 and "run name" in err and err.count("\n") == 1
    assert not list(tmp_path.rglob("ESCAPED")) and not (tmp_path / "cowest.db").exists()
    with pytest.raises(Exception, match="run name"):
        from cowest.trainer.dpo import DPOOptions

        DPOOptions(run=name, round=1)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--samples", "1000000000"], "--samples 1,000,000,000 is over the limit of 256"),
        (["--max-new-tokens", "1000000000000"], "--max-new-tokens 1,000,000,000,000 is over the limit"),
    ],
)
def test_sizes_past_the_operators_limits_are_refused_before_anything_is_written(
    extra, message, capsys, data, db_url, tmp_path
):
    code = main(["collect", "--task", "medmcqa", "--data", data, "--db", db_url, "--limit", "1"] + extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "cowest.db").exists()


def test_a_damaged_or_read_only_store_is_one_line_not_a_traceback(tmp_path, capsys, data):
    """A store file with damaged pages, or one this user may not write, ends every command with one
    line naming the store's failure."""
    import sqlite3

    damaged = tmp_path / "damaged.db"
    with sqlite3.connect(damaged) as db:  # a real store's tables, then its pages overwritten
        store = get_store(f"sqlite:///{damaged}")
        store.ensure_run("r", "open")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(damaged.read_bytes())
    raw[4096 * 2 :] = b"\xde\xad" * ((len(raw) - 4096 * 2) // 2)
    damaged.write_bytes(raw)
    code = main(["runs", "--db", f"sqlite:///{damaged}"])
    err = capsys.readouterr().err
    assert code == 2 and "the store failed" in err and err.count("\n") == 1
    readonly = tmp_path / "ro.db"
    get_store(f"sqlite:///{readonly}").ensure_run("r", "open")
    url = f"sqlite:///file:{readonly}?mode=ro&uri=true"  # read-only to everyone, root included
    code = main(["collect", "--task", "medmcqa", "--data", data, "--db", url, "--limit", "1", "--judge", "exact"])
    err = capsys.readouterr().err
    assert code == 2 and "readonly database" in err and err.count("\n") == 1
