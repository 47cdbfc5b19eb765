"""`langgraph dev` serves both graphs offline and runs a query through `collaborate`."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_langgraph_dev_runs_collaborate(tiny_model, tmp_path):
    cli = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or shutil.which("langgraph")
    if cli is None:
        pytest.fail("langgraph CLI missing: install the dev extra (pip install -e '.[dev]')")
    from langgraph_sdk import get_sync_client

    port = _free_port()
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [cli, "dev", "--no-browser", "--no-reload", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        client = get_sync_client(url=f"http://127.0.0.1:{port}")
        deadline = time.time() + 120
        while True:
            try:
                graphs = {a["graph_id"] for a in client.assistants.search()}
                break
            except Exception:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("langgraph dev did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(1)
        assert {"collaborate", "collect"} <= graphs
        spec = f"huggingface:{tiny_model}"
        out = client.runs.wait(
            None,
            "collaborate",
            input={"query": "What is two plus two?"},
            context={"weak": spec, "strong": spec, "max_new_tokens": 8},
        )
        assert len(out["drafts"]) == 1 and len(out["refinements"]) == 1
        assert out["refinements"][0]["error"] is None and "output" in out
        # The collect graph with a store: the async nodes' store work must not block Studio's loop.
        db = f"sqlite:///{tmp_path / 'studio.db'}"
        out = client.runs.wait(
            None,
            "collect",
            input={"query": "What is two plus two?", "gold": "4"},
            context={"weak": spec, "strong": spec, "max_new_tokens": 8, "samples": 2, "judge": "exact", "db": db},
        )
        assert len(out["drafts"]) == 2 and out["solo"]["score"] is not None, (tmp_path / "server.log").read_text()[
            -3000:
        ]
        from cowest.storage import get_store

        store = get_store(db)
        assert {c.role for c in store.calls_of(store.runs()[0].id)} >= {"strong_solo", "judge", "weak_draft"}
        assert "Blocking" not in (tmp_path / "server.log").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
