"""The RAG issue's figures, measured in one run:

1. BM25 retrieval latency per query over 10,000 passages (IfQA's context passages cut into 30-word
   pieces), median and 90th percentile of 200 IfQA questions, beside one strong request in the same
   run (the bundled SmolLM2 answering a question: what a retrieval is added to);
2. Table-1 rows for one built-in task with SmolLM2 as both models (offline): weak, strong-cot, skr,
   flare, collab, and collab with the adapter of one round of each feedback arm (collaborative,
   individual), every cell with n and its 95% interval (`cowest report`). The corpus: IfQA's context
   passages, or MedMCQA's gold explanations of rows used for nothing else.

    python bench/rag.py --skip-table                                   # figure 1 (20 s)
    python bench/rag.py --skip-latency --task ifqa --judge llm         # figure 2 on IfQA (30 min)
    python bench/rag.py --skip-latency --task medmcqa --train 48       # figure 2 on MedMCQA (30 min)

Needs ../shared/data (the offline copies). SmolLM2 on a CPU is a weak "strong" model: the rows say
what the harness measures, not what a real API would score.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
IFQA = ROOT.parent / "shared" / "data" / "ifqa"
MEDMCQA = ROOT.parent / "shared" / "data" / "medmcqa"
sys.path.insert(0, str(ROOT / "examples"))

from ifqa_corpus import ifqa_corpus  # noqa: E402


def cowest(*argv: str, env: dict, ok: tuple[int, ...] = (0,)) -> dict | None:
    """Run the CLI; its --json output when it gives one."""
    done = subprocess.run([sys.executable, "-m", "cowest.cli", *argv], env=env, capture_output=True, text=True)
    if done.returncode not in ok:
        raise SystemExit(f"cowest {' '.join(argv[:3])}... exited {done.returncode}:\n{done.stderr[-2000:]}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return None


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def latency(out: Path, questions: list[str]) -> dict:
    from cowest.models import Sampling, get_model
    from cowest.nodes.retrievers import BM25Retriever

    rows = json.loads((IFQA / "train.json").read_text()) + json.loads((IFQA / "dev.json").read_text())
    words = [w for r in rows for c in r.get("context") or [] for w in c.split()]
    pieces = [(f"w{i}", " ".join(words[i * 30 : (i + 1) * 30])) for i in range(10_000)]
    start = time.perf_counter()
    retriever = BM25Retriever.from_passages(pieces, k=3)
    built = time.perf_counter() - start
    retriever.invoke(questions[0])  # first call pays for imports
    times = []
    for q in questions:
        t = time.perf_counter()
        retriever.invoke(q)
        times.append(time.perf_counter() - t)
    times.sort()
    model, short = get_model("smollm2"), Sampling(max_new_tokens=16)
    ask = lambda q: [{"role": "user", "content": q + "\nAnswer in a few words."}]
    model.generate([ask(questions[0])], sampling=short)  # load and warm up
    strong = []
    for q in questions[:5]:
        t = time.perf_counter()
        model.generate([ask(q)], sampling=short)
        strong.append(time.perf_counter() - t)
    per_query = median(times)
    return {
        "passages": len(pieces),
        "index build s": round(built, 2),
        "queries": len(times),
        "retrieval ms per query, median": round(1000 * per_query, 2),
        "retrieval ms per query, p90": round(1000 * times[int(0.9 * len(times))], 2),
        "SmolLM2 request (16 new tokens) ms, median of 5": round(1000 * median(strong), 1),
        "retrieval / strong request": round(per_query / median(strong), 4),
    }


def task_files(task: str, out: Path, n: int, train: int) -> tuple[Path, Path, Path, int]:
    """Held-out rows, training rows and a corpus for `task`. IfQA: its dev split's context passages.
    MedMCQA: the gold explanations (`exp`) of rows neither held out nor trained on, the domain text a
    company would index."""
    if task == "ifqa":
        rows = json.loads((IFQA / "dev.json").read_text())
        corpus = ifqa_corpus(rows)
        pool = json.loads((IFQA / "train.json").read_text())[:train]
    else:
        rows = [json.loads(line) for line in (MEDMCQA / "dev_part.jsonl").read_text().splitlines() if line.strip()]
        pool = rows[n : n + train]
        corpus = [{"id": r["id"], "text": r["exp"]} for r in rows[n + train :] if (r.get("exp") or "").strip()]
    return (
        write_jsonl(out / f"{task}-heldout.jsonl", rows[:n]),
        write_jsonl(out / f"{task}-train.jsonl", pool),
        write_jsonl(out / f"{task}-corpus.jsonl", corpus),
        len(corpus),
    )


def table(task: str, out: Path, n: int, train: int, judge: str) -> dict:
    heldout, pool, corpus, passages = task_files(task, out, n, train)
    db = f"sqlite:///{out / f'{task}.db'}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COWEST_DB": db}
    models = ["--weak", "smollm2", "--strong", "smollm2", "--max-new-tokens", "48", "--db", db]
    stamps, arms = {}, {}
    start = time.perf_counter()
    base = ["eval", "--task", task, "--data", str(heldout), *models, "--json", "--run", "table"]
    cowest(*base, "--methods", "weak,strong-cot,skr,flare,collab", "--corpus", str(corpus), env=env)
    stamps["baselines s"] = round(time.perf_counter() - start, 1)
    for arm in ("collaborative", "individual"):
        start = time.perf_counter()
        run = f"arm-{arm}-{judge}-judge"
        cowest(
            "rounds", "--task", task, "--data", str(pool), "--rounds", "1", "--samples", "4", "--judge", judge,
            "--feedback", arm, "--annotator", "strong", "--preset", "small", "--out", str(out / "adapters"),
            "--run", run, *models, env=env, ok=(0, 3),
        )  # fmt: skip
        arms[arm] = round_of(out / f"{task}.db", run)
        adapter = next((out / "adapters").glob(f"{run}*/round-1"), None)
        if adapter is not None:  # a round without pairs trains nothing: no row to evaluate
            cowest(*base, "--methods", "collab", "--adapter", str(adapter), env=env)
        stamps[f"{arm} round s"] = round(time.perf_counter() - start, 1)
    cowest("report", "--out", str(out / f"report-{task}"), "--db", db, env=env)
    return {"n": n, "train queries": train, "judge": judge, "corpus passages": passages, "rounds": arms, "wall": stamps}


def round_of(db: Path, run: str) -> dict:
    """What a feedback arm's round stored: its drafts, positives and pairs."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        (metrics,) = conn.execute(
            "SELECT a.metrics FROM adapters a JOIN runs r ON r.id = a.run_id WHERE r.name = ? ORDER BY a.id DESC",
            (run,),
        ).fetchone()
    m = json.loads(metrics)
    return {k: m.get(k) for k in ("queries", "drafts", "positives", "negatives", "pairs", "note")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench/out/rag")
    p.add_argument("--n", type=int, default=24, help="held-out IfQA questions in the table")
    p.add_argument("--train", type=int, default=16, help="IfQA training questions of each feedback arm's round")
    p.add_argument("--task", default="ifqa", choices=["ifqa", "medmcqa"])
    p.add_argument("--judge", default="exact", choices=["exact", "llm"], help="the feedback arms' judge")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--skip-table", action="store_true")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    questions = [r["question"] for r in json.loads((IFQA / "dev.json").read_text())[:200]]
    figures: dict = {}
    if not args.skip_latency:
        figures["BM25 latency"] = latency(out, questions)
        print(json.dumps(figures, indent=2), flush=True)
    if not args.skip_table:
        figures[f"Table 1, {args.task}"] = table(args.task, out, args.n, args.train, args.judge)
    name = "latency" if args.skip_table else args.task
    (out / f"rag-{name}.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
