"""Reliability figures of the reliability issue, measured in one run (tiny weak model, the scripted
OpenAI-compatible server of the tests on 127.0.0.1, real `cowest` processes).

    python bench/reliability.py [--out bench/out/reliability]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import write_jsonl  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402
from test_collect_graph import mcq, script  # noqa: E402
from test_reliability import check_one_collector_worth, cli_env, collect_argv, spawn  # noqa: E402
from tiny_model import build_tiny_model  # noqa: E402

from cowest.storage import get_store  # noqa: E402


def collectors(n: int, data: str, model: str, tmp: Path) -> dict:
    db = f"sqlite:///{tmp / f'shared{n}.db'}"
    with ScriptedServer(script) as srv:
        srv.latency = 0.02
        procs = [spawn(collect_argv(data, model, db), cli_env(srv.url, tmp)) for _ in range(n)]
        for p in procs:
            p.communicate(timeout=600)
    store = get_store(db)
    calls = store.calls_of(store.run_id("r"))
    ident = Counter((c.role, c.query_id, c.sample_index, c.parent_id if c.role == "judge" else None) for c in calls)
    try:
        check_one_collector_worth(db)
        consistent = True
    except AssertionError:
        consistent = False
    return {
        "collectors": n,
        "exit codes": [p.returncode for p in procs],
        "rows": len(calls),
        "duplicates": sum(v - 1 for v in ident.values()),
        "refinements read their parent, pairs = Algorithm 1": consistent,
    }


def faults(data: str, model: str, tmp: Path) -> dict:
    db = f"sqlite:///{tmp / 'faults.db'}"
    with ScriptedServer(script, fail_rate=0.3, seed=1) as srv:
        first = spawn(collect_argv(data, model, db, "--max-retries", "0"), cli_env(srv.url, tmp))
        first.communicate(timeout=600)
        failed = sum(c.error is not None for c in get_store(db).calls_of(get_store(db).run_id("r")))
        srv.fail_rate = 0.0
        again = spawn(collect_argv(data, model, db, "--max-retries", "0", "--retry-failed"), cli_env(srv.url, tmp))
        again.communicate(timeout=600)
    left = sum(c.error is not None for c in get_store(db).calls_of(get_store(db).run_id("r")))
    return {
        "30% 500/429, --max-retries 0: exit": first.returncode,
        "failed calls": failed,
        "--retry-failed on a healthy server: exit": again.returncode,
        "failed calls left": left,
    }


def dead_server(data: str, model: str, tmp: Path) -> dict:
    db = f"sqlite:///{tmp / 'dead.db'}"
    with ScriptedServer(script) as srv:
        srv.hang = True
        start = time.perf_counter()
        proc = spawn(
            collect_argv(data, model, db, "--limit", "1", "--timeout", "2", "--max-retries", "0"), cli_env(srv.url, tmp)
        )
        while not srv.requests and proc.poll() is None:
            time.sleep(0.01)
        first_request = time.perf_counter()
        proc.communicate(timeout=600)
        end = time.perf_counter()
    store = get_store(db)
    failed = [c for c in store.calls_of(store.run_id("r")) if c.error]
    return {
        "dead server, --timeout 2 --max-retries 0: exit": proc.returncode,
        "failed calls": len(failed),
        "seconds from the first request to exit": round(end - first_request, 1),
        "seconds with process start": round(end - start, 1),
    }


def sigint(data: str, model: str, tmp: Path) -> dict:
    db = f"sqlite:///{tmp / 'sigint.db'}"
    with ScriptedServer(script) as srv:
        srv.hang = True
        proc = spawn(collect_argv(data, model, db), cli_env(srv.url, tmp))
        while not srv.requests:
            time.sleep(0.05)
        start = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.perf_counter() - start
    return {
        "SIGINT with calls in flight: exit": proc.returncode,
        "seconds to exit": round(took, 2),
        "traceback": "Traceback" in err,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench/out/reliability")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cowest-rel-"))
    model = str(build_tiny_model(tmp / "tiny"))
    data = str(write_jsonl(tmp / "mcq.jsonl", [mcq(i, f"Question number {i}?") for i in range(4)]))
    result = {
        "collectors": [collectors(n, data, model, tmp) for n in (2, 3)],
        "faults": faults(data, model, tmp),
        "dead server": dead_server(data, model, tmp),
        "sigint": sigint(data, model, tmp),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
