"""Strong-model cost figures of the cost issue, measured in one run: 40 MedMCQA queries, K=4, LLM
judge, the scripted OpenAI-compatible server of the tests on 127.0.0.1 as strong model and judge, a
tiny random Llama as weak model (so DPO rounds take seconds).

    python bench/cost.py [--queries 40] [--rounds 3] [--out bench/out/cost]

1. `cowest rounds` over 3 rounds: strong/judge requests per pair, against the paper's loop (2K+2
   requests per query per round) at the same pairs.
2. A second run over the same queries under another name: solo requests (expected 0).
3. `cowest eval --methods strong-cot` over those queries after the collection: requests (expected 0).
4. Budgets of N requests on a fresh run (cache off, 8 queries in flight): requests sent (at most N).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import write_jsonl  # noqa: E402
from scripted_server import (  # noqa: E402
    ScriptedServer,  # noqa: E402
    kind_of,
    section,
)
from test_collect_graph import mcq, script  # noqa: E402
from tiny_model import build_tiny_model  # noqa: E402

from cowest.collect import CollectOptions, collect, exit_code  # noqa: E402
from cowest.evaluation import EvalOptions, evaluate  # noqa: E402
from cowest.rounds import RoundsOptions, run_rounds  # noqa: E402
from cowest.trainer.options import TrainingChoice  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "medmcqa" / "dev_part.jsonl"


def distinct_script(prompt: str) -> str:
    """The tests' script, but each refinement names the draft it refines, as a real model's text
    would differ: only a repeated draft gives a repeated refinement (and judgment)."""
    text = script(prompt)
    if kind_of(prompt) == "refine":
        draft = section(prompt, "Expert model's answer:")
        text = text.replace("built on the draft", f"built on draft {hashlib.sha1(draft.encode()).hexdigest()[:10]}")
    return text


def common(data: str, model: str, db: str, queries: int, k: int) -> dict:
    return dict(
        task="medmcqa",
        data=data,
        limit=queries,
        samples=k,
        weak=f"huggingface:{model}",
        strong="openai:scripted",
        judge="llm",
        max_new_tokens=24,
        db=db,
        concurrency=4,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=40)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default="bench/out/cost")
    args = p.parse_args()
    n, k = args.queries, args.samples
    tmp = Path(tempfile.mkdtemp(prefix="cowest-cost-"))
    model = str(build_tiny_model(tmp / "tiny-llama"))
    data = (
        str(SHARED) if SHARED.is_file() else str(write_jsonl(tmp / "mcq.jsonl", [mcq(i, f"Q{i}?") for i in range(n)]))
    )
    db = f"sqlite:///{tmp / 'cost.db'}"
    figures: dict = {"queries": n, "samples": k, "rounds": args.rounds, "data": Path(data).name}
    with ScriptedServer(distinct_script) as srv:
        os.environ.update(OPENAI_BASE_URL=srv.url, OPENAI_API_KEY="sk-bench", HF_HUB_OFFLINE="1")
        start = time.perf_counter()
        reports = run_rounds(
            RoundsOptions(
                **common(data, model, db, n, k),
                run="rounds",
                rounds=args.rounds,
                out=str(tmp / "adapters"),
                training=TrainingChoice(trl={"max_steps": 2, "gradient_accumulation_steps": 1}),
            ),
            progress=False,
        )
        requests, pairs = len(srv.requests), sum(r.pairs for r in reports)
        paper = args.rounds * n * (2 * k + 2)
        figures["rounds"] = {
            "per round": [
                {"round": r.round, "pairs": r.pairs, "sent": r.spending.sent, "reused": r.spending.reused}
                for r in reports
            ],
            "requests": requests,
            "by kind": dict(Counter(srv.kinds())),
            "pairs": pairs,
            "requests per pair": round(requests / pairs, 2) if pairs else None,
            "paper loop requests": paper,
            "paper loop per pair": round(paper / pairs, 2) if pairs else None,
            "ours / paper": round(requests / paper, 3),
            "seconds": round(time.perf_counter() - start, 1),
        }

        before = len(srv.requests)
        second = collect(CollectOptions(**common(data, model, db, n, k), run="second"), progress=False)
        kinds = Counter(srv.kinds()[before:])
        figures["second run"] = {
            "solo requests": kinds["solo"],
            "requests": len(srv.requests) - before,
            "by kind": dict(kinds),
            "reused": second.spending.reused,
            "pairs": second.pairs,
        }

        before = len(srv.requests)
        (result,) = evaluate(
            EvalOptions(
                **{key: v for key, v in common(data, model, db, n, k).items() if key not in ("samples", "judge")},
                methods=["strong-cot"],
            ),
            progress=False,
        )
        figures["eval strong-cot after collect"] = {
            "requests": len(srv.requests) - before,
            "reused": result.metrics["strong_reused"],
            "accuracy": result.metrics["accuracy"],
        }

        budgets = []
        for cap in (5, 17, 40):
            before = len(srv.requests)
            capped = collect(
                CollectOptions(
                    **{**common(data, model, db, n, k), "concurrency": 8},
                    run=f"budget-{cap}",
                    cache=False,
                    max_strong_calls=cap,
                ),
                progress=False,
            )
            budgets.append({"N": cap, "requests sent": len(srv.requests) - before, "exit code": exit_code(capped)})
        figures["budgets"] = budgets
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cost.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
