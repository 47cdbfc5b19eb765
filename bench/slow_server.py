"""A one-slot self-hosted strong model (issue: slow servers), measured in one run: the scripted
OpenAI-compatible server answering one request at a time, 1 s each (the rest wait their turn, and
a request whose client gave up still takes its turn, as on llama.cpp); 6 MedMCQA queries x K=2,
exact judge, `--concurrency 8 --timeout 3`; tiny random Llama as weak model.

    python bench/slow_server.py [--latency 1.0] [--out bench/out/slow_server]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import write_jsonl  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402
from test_collect_graph import mcq, script  # noqa: E402
from tiny_model import build_tiny_model  # noqa: E402

from cowest.collect import CollectOptions, collect, exit_code  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency", type=float, default=1.0)
    p.add_argument("--queries", type=int, default=6)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--out", default="bench/out/slow_server")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cowest-slow-"))
    model = str(build_tiny_model(tmp / "tiny-llama"))
    data = write_jsonl(tmp / "mcq.jsonl", [mcq(i, f"Question number {i}?") for i in range(args.queries)])
    with ScriptedServer(script, slots=1) as srv:
        srv.latency = args.latency
        os.environ.update(OPENAI_BASE_URL=srv.url, OPENAI_API_KEY="sk-bench", HF_HUB_OFFLINE="1")
        start = time.perf_counter()
        summary = collect(
            CollectOptions(
                task="medmcqa",
                data=str(data),
                samples=args.samples,
                run="slow",
                weak=f"huggingface:{model}",
                strong="openai:scripted",
                judge="exact",
                max_new_tokens=24,
                db=f"sqlite:///{tmp / 'slow.db'}",
                concurrency=8,
                timeout=3.0,
            ),
            progress=False,
        )
        wall = time.perf_counter() - start
        needed = args.queries * (1 + args.samples)  # one solo answer and K refinements per query
        figures = {
            "latency s": args.latency,
            "queries": args.queries,
            "samples": args.samples,
            "exit code": exit_code(summary),
            "failed calls": summary.failed_calls,
            "requests needed": needed,
            "requests the server received": len(srv.requests),
            "ideal s (requests needed x latency)": needed * args.latency,
            "wall s": round(wall, 1),
            "wall / ideal": round(wall / (needed * args.latency), 2),
            "final in-flight limit": summary.in_flight_limits,
            "pairs": summary.pairs,
        }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "slow_server.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
