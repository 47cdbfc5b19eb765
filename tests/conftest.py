import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_model import build_tiny_model  # noqa: E402

try:  # the cowest/ folder of the repo root shadows the installed package when it is not installed editable
    import cowest.graph  # noqa: F401
except ModuleNotFoundError:
    pytest.exit("cowest is not installed: run `make setup` (or pip install -e '.[dev]') first", returncode=4)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Path of a tiny random Llama with a ChatML tokenizer, built once per session."""
    return str(build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama"))


@pytest.fixture
def data(tmp_path) -> str:
    """Four MedMCQA-shaped queries in a JSON Lines file (the CLI tests' --data)."""
    from test_collect_graph import mcq

    return str(write_jsonl(tmp_path / "mcq.jsonl", [mcq(i, f"Question number {i}?") for i in range(4)]))


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cowest.db'}"


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch, tmp_path):
    """No test reaches a hub or reads the user's API settings."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("COWEST_DB", raising=False)
    monkeypatch.setenv("COWEST_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def serve(monkeypatch):
    """`serve(script)` starts a scripted OpenAI-compatible server on 127.0.0.1 and points the
    environment at it; it stops when the test ends."""
    from contextlib import ExitStack

    from scripted_server import ScriptedServer

    with ExitStack() as stack:

        def start(script, **settings):
            srv = stack.enter_context(ScriptedServer(script, **settings))
            monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
            monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-do-not-store")
            return srv

        yield start


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's postgresql package; .ci/run installs it)."""
    import glob
    import os
    import shutil
    import socket
    import subprocess

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    bindir = os.path.dirname(bins[-1])
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="cowest-pg-"))  # pytest's tmp dirs are closed to other users
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_user = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    subprocess.run(
        as_user + [f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        as_user
        + [
            f"{bindir}/pg_ctl",
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "-o",
            f"-p {port} -h 127.0.0.1 -k {root}",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server, request):
    """A fresh database on the throwaway cluster, one per test (skipped in an environment without
    the PostgreSQL driver: `make test` installs it, the oldest-versions run does not)."""
    psycopg = pytest.importorskip("psycopg")

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    with psycopg.connect(
        postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True
    ) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        c.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


PROMPTS = ["Is fire hot?", "Is ice cold?", "Is the sea salty?", "Is sugar sweet?"]


@pytest.fixture(scope="session")
def sft_adapter(tiny_model, tmp_path_factory):
    """A LoRA SFT adapter of the tiny model, trained on PROMPTS (the start of the preference tests)."""
    from cowest.trainer.sft import SFTOptions, train_sft

    tmp = tmp_path_factory.mktemp("sft")
    data = write_jsonl(
        tmp / "m.jsonl",
        [
            {
                "id": str(i),
                "question": q,
                "opa": "yes",
                "opb": "no",
                "opc": "maybe",
                "opd": "never",
                "cop": 1,
                "exp": "It is, by its nature.",
            }
            for i, q in enumerate(PROMPTS)
        ],
    )
    out = tmp / "adapter"
    result = train_sft(
        SFTOptions(
            task="medmcqa",
            data=str(data),
            out=str(out),
            weak=f"huggingface:{tiny_model}",
            trl={
                "max_steps": 12,
                "learning_rate": 3e-3,
                "gradient_accumulation_steps": 1,
                "per_device_train_batch_size": 4,
            },
        )
    )
    return {"path": str(out), "data": str(data), "result": result}
