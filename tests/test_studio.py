"""`langgraph dev` serves both graphs offline; through its HTTP API a caller chooses only what
graph/serving.py allows: the operator's key, files and models are out of its reach."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scripted_server import ScriptedServer, kind_of

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-operator-secret-do-not-leak"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strong(prompt: str) -> str:
    return "10" if kind_of(prompt) == "judge" else "Explanation: e.\nAnswer: 4"


@pytest.fixture
def served(tiny_model, sft_adapter, tmp_path):
    """`langgraph dev` on a free port, with the operator's settings file, strong model and key."""
    cli = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or shutil.which("langgraph")
    if cli is None:
        pytest.fail("langgraph CLI missing: install the dev extra (pip install -e '.[dev]')")
    from langgraph_sdk import get_sync_client

    with ScriptedServer(strong) as operator_api:
        settings = tmp_path / "server.yaml"
        settings.write_text(
            f"weak: huggingface:{tiny_model}\nstrong: openai:scripted\njudge: exact\n"
            f"db: sqlite:///{tmp_path / 'operator.db'}\nmax_new_tokens: 64\nmax_samples: 4\n"
            f"adapters:\n  sft: {sft_adapter['path']}\n"
        )
        port = _free_port()
        env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
        env.update(COWEST_SERVER_SETTINGS=str(settings), OPENAI_BASE_URL=operator_api.url, OPENAI_API_KEY=SECRET)
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
            yield client, operator_api, tmp_path
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


def run(client, graph: str, context: dict, query: str = "What is two plus two?") -> tuple[dict | None, str]:
    """(the run's output, or None; the error text, or "")."""
    try:
        out = client.runs.wait(None, graph, input={"query": query, "gold": "4"}, context=context)
    except Exception as exc:  # the API refused the run; its answer's body says why
        return None, f"{exc} {getattr(getattr(exc, 'response', None), 'text', '')}"
    if isinstance(out, dict) and "__error__" in out:
        return None, str(out["__error__"])
    return out, ""


def test_served_graphs_run_the_operators_models_and_store(served):
    client, operator_api, tmp_path = served
    out, error = run(client, "collaborate", {"max_new_tokens": 8})
    assert not error and len(out["drafts"]) == 1 and out["refinements"][0]["error"] is None and "output" in out
    out, error = run(client, "collect", {"max_new_tokens": 8, "samples": 2, "run": "mine"})
    assert not error and len(out["drafts"]) == 2 and out["solo"]["score"] is not None
    from cowest.storage import get_store

    store = get_store(f"sqlite:///{tmp_path / 'operator.db'}")
    assert {c.role for c in store.calls_of(store.run_id("mine"))} >= {"strong_solo", "judge", "weak_draft"}
    assert {h.get("Authorization") for h in operator_api.headers} == {f"Bearer {SECRET}"}
    assert "Blocking" not in (tmp_path / "server.log").read_text()


def served_adapter(tmp_path) -> str:
    """The adapter folder the operator registered as `sft` (the settings file the fixture wrote)."""
    import yaml

    return yaml.safe_load((tmp_path / "server.yaml").read_text())["adapters"]["sft"]


def test_a_caller_picks_a_registered_adapter_by_name(served):
    """The documented feature through the HTTP API: the operator registers an adapter by name, a
    caller picks it, and the weak draft is the adapter's (its calls keyed by the adapter's content)."""
    client, _, tmp_path = served
    out, error = run(client, "collaborate", {"max_new_tokens": 8, "adapter": "sft", "run": "with-adapter"})
    assert not error, error
    assert out["drafts"][0]["error"] is None and "Blocking" not in (tmp_path / "server.log").read_text()
    from cowest.storage import get_store

    store = get_store(f"sqlite:///{tmp_path / 'operator.db'}")
    (draft,) = [c for c in store.calls_of(store.run_id("with-adapter")) if c.role == "weak_draft"]
    assert draft.adapter and Path(draft.adapter).resolve() == Path(served_adapter(tmp_path)).resolve()


# What a caller tried -> what happened: "ignored" (LangGraph's server drops context fields that are
# not in the graph's schema before the run starts), or the refusal the run's error says.
ATTACKS = {
    "the key sent to a URL of the caller's": ({"weak": "openai:x", "weak_base_url": "CATCHER"}, "ignored"),
    "a database file anywhere": ({"db": "sqlite:///EVIL"}, "ignored"),
    "a store on another host": ({"db": "postgresql+psycopg://127.0.0.2:9/x"}, "ignored"),
    "a model of the caller's choice": ({"weak": "huggingface:/etc", "strong": "openai:x"}, "ignored"),
    "a huge generation": ({"max_new_tokens": 10**6}, "above this server's cap 64"),
    "huge K": ({"samples": 10**4}, "above this server's cap 4"),
    "an adapter path": ({"adapter": "/etc/passwd"}, "unknown adapter '/etc/passwd'; this server offers: sft"),
    "a run name that is a path": ({"run": "../../x"}, "use 1-64 letters"),
}


def test_every_attack_is_refused_or_ignored_and_reaches_nothing(served):
    client, operator_api, tmp_path = served
    with ScriptedServer(lambda prompt: "caught") as catcher:
        for name, (context, outcome) in ATTACKS.items():
            context = {
                k: v.replace("CATCHER", catcher.url).replace("EVIL", str(tmp_path / "evil.db"))
                if isinstance(v, str)
                else v
                for k, v in context.items()
            }
            before = len(operator_api.requests)
            out, error = run(client, "collect", {**context, "max_new_tokens": context.get("max_new_tokens", 8)})
            if outcome == "ignored":  # the run went on with the operator's models and store
                assert out is not None and not error, (name, error)
                assert {r["model"] for r in operator_api.requests[before:]} <= {"scripted"}  # (or reused)
                assert out["drafts"] and all(d["error"] is None for d in out["drafts"]), name
            else:
                assert out is None and outcome in error, (name, error)
                assert len(operator_api.requests) == before, name  # nothing was asked of any model
        assert catcher.requests == [] and catcher.connections == 0  # nothing, and no key, went to the caller's URL
    assert not (tmp_path / "evil.db").exists()  # no file outside the operator's paths
    assert {h.get("Authorization") for h in operator_api.headers} == {f"Bearer {SECRET}"}


def test_a_request_past_the_servers_limits_is_answered_4xx_and_no_run_is_made(served):
    """The gate in front of the server (graph/http_guard.py) refuses a huge query, a huge body and a
    context past the caps with a 4xx and one line: no run is made, so none can be resumed, and the
    server logs no error for the caller's mistake."""
    client, operator_api, tmp_path = served
    import httpx

    before, threads = len(operator_api.requests), len(client.threads.search(limit=1000))
    out, error = run(client, "collect", {"max_new_tokens": 8, "samples": 2}, query="why? " * 12_000)
    assert out is None and "413" in error and "over this server's limit of 50,000" in error
    out, error = run(client, "collect", {"max_new_tokens": "lots"})
    assert out is None and "422" in error and "context.max_new_tokens: Input should be a valid integer" in error
    out, error = run(client, "collect", {"samples": 99})
    assert out is None and "422" in error and '"context: samples 99 is above this server\'s cap 4"' in error
    url = str(client.http.client.base_url).rstrip("/") + "/runs/wait"
    huge = httpx.post(url, content=b'{"assistant_id": "collect", "input": {"query": "' + b"x" * 400_000 + b'"}}')
    assert huge.status_code == 413 and len(huge.json()["detail"].splitlines()) == 1
    assert len(operator_api.requests) == before and len(client.threads.search(limit=1000)) == threads
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "Run encountered an error" not in log
