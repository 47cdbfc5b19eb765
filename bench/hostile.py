"""Issue 29's figures in one run: cowest's peak memory under the largest query and the worst
template the limits let through (and under those they refuse), and every strong/judge answer stored
or counted when the store fills mid-run. Real `cowest` processes, the tiny weak model, the tests'
scripted OpenAI-compatible server on 127.0.0.1.

    python bench/hostile.py [--out bench/out/hostile.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import write_jsonl  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402
from test_collect_graph import mcq, script  # noqa: E402
from test_reliability import cli_env  # noqa: E402
from tiny_model import build_tiny_model  # noqa: E402

from cowest.core.limits import Limits  # noqa: E402

LIMITS = Limits()
TASK = """name: hostile
data: q.jsonl
id: id
query: "{query}"
choices: [opa, opb, opc, opd]
gold: cop
index_base: 1
metrics: [accuracy]
"""
CASES = {  # label: (question, query template, queries)
    "4 short queries": ("Question {i}?", "{{{{ question }}}}", 4),
    "32 queries of ~3,900 tokens (within the weak model's 4,096)": ("x" * 3800 + " {i}?", "{{{{ question }}}}", 32),
    "4 queries at the query limit (past the weak model's context)": (
        "x" * (LIMITS.max_query_chars - 300) + " {i}?",
        "{{{{ question }}}}",
        4,
    ),
    "4 queries past the query limit (refused)": ("x" * LIMITS.max_query_chars + " {i}?", "{{{{ question }}}}", 4),
    "a template that renders past its limit (refused)": ("Question {i}?", "{{{{ question ~ ('x' * 300000) }}}}", 4),
    "`{{ question * 100000000 }}` (refused)": ("Question {i}?", "{{{{ question * 100000000 }}}}", 4),
}


def peak_rss_mb(argv: list[str], env: dict) -> tuple[int, float]:
    """Exit code and peak resident memory (MB) of one `cowest` process (GNU time's %M)."""
    cmd = ["/usr/bin/time", "-f", "peak_kb=%M", sys.executable, "-m", "cowest.cli", *argv]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 2, 3):
        raise SystemExit(proc.stderr[-2000:])
    peak = [line for line in proc.stderr.splitlines() if line.startswith("peak_kb=")][-1]
    return proc.returncode, int(peak.split("=")[1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/out/hostile.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cowest-hostile-"))
    model = build_tiny_model(tmp / "tiny")
    rows = []
    for n, (label, (question, query, queries)) in enumerate(CASES.items()):
        case = tmp / f"case{n}"
        case.mkdir()
        write_jsonl(case / "q.jsonl", [{**mcq(i, question.format(i=i)), "id": f"q{i}"} for i in range(queries)])
        (case / "task.yaml").write_text(TASK.format(query=query.format()))
        with ScriptedServer(script) as srv:
            argv = ["collect", "--task", str(case / "task.yaml"), "--samples", "2", "--concurrency", "32"]
            argv += ["--weak", f"huggingface:{model}"]
            argv += ["--strong", "openai:scripted", "--max-new-tokens", "8", "--db", f"sqlite:///{case / 'c.db'}"]
            code, rss = peak_rss_mb(argv, cli_env(srv.url, tmp))
            rows.append({"case": label, "exit": code, "peak_rss_mb": round(rss), "requests": len(srv.requests)})
        print(rows[-1], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"limits": LIMITS.__dict__, "rows": rows}, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
