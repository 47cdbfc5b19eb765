"""The RAG issue's figures, measured in one run:

1. BM25 retrieval latency per query over 10,000 passages (IfQA's context passages cut into 30-word
   pieces), median and 90th percentile of 200 IfQA questions, beside one strong request in the same
   run (the bundled SmolLM2 answering a question: what a retrieval is added to);
2. Table-1 rows for IfQA with SmolLM2 as both models (offline): weak, strong-cot, skr, flare, collab,
   and collab with the adapter of one round of each feedback arm (collaborative, individual), every
   cell with n and its 95% interval (`cowest report`), over IfQA's context passages as the corpus.

    python bench/rag.py [--out bench/out/rag] [--n 24] [--train 16]

Needs ../shared/data/ifqa (the offline copy). SmolLM2 on a CPU is a weak "strong" model: the rows say
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
sys.path.insert(0, str(ROOT / "examples"))

from ifqa_corpus import ifqa_corpus  # noqa: E402


def cowest(*argv: str, env: dict) -> dict | None:
    """Run the CLI; its --json output when it gives one."""
    done = subprocess.run([sys.executable, "-m", "cowest.cli", *argv], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cowest {' '.join(argv[:3])}... exited {done.returncode}:\n{done.stderr[-2000:]}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return None


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def latency(out: Path, questions: list[str]) -> dict:
    from cowest.nodes.models import Sampling, get_model
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


def table(out: Path, n: int, train: int) -> dict:
    rows = json.loads((IFQA / "dev.json").read_text())
    corpus = ifqa_corpus(rows)
    corpus_file = write_jsonl(out / "ifqa-contexts.jsonl", corpus)
    heldout = write_jsonl(out / "ifqa-heldout.jsonl", rows[:n])
    pool = write_jsonl(out / "ifqa-train.jsonl", json.loads((IFQA / "train.json").read_text())[:train])
    db = f"sqlite:///{out / 'rag.db'}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COWEST_DB": db}
    models = ["--weak", "smollm2", "--strong", "smollm2", "--max-new-tokens", "48", "--db", db]
    stamps = {}
    start = time.perf_counter()
    base = ["eval", "--task", "ifqa", "--data", str(heldout), *models, "--json", "--run", "table"]
    cowest(*base, "--methods", "weak,strong-cot,skr,flare,collab", "--corpus", str(corpus_file), env=env)
    stamps["baselines s"] = round(time.perf_counter() - start, 1)
    for arm in ("collaborative", "individual"):
        start = time.perf_counter()
        cowest(
            "rounds", "--task", "ifqa", "--data", str(pool), "--rounds", "1", "--samples", "2", "--judge", "exact",
            "--feedback", arm, "--annotator", "strong", "--preset", "small", "--out", str(out / "adapters"),
            "--run", f"arm-{arm}", *models, env=env,
        )  # fmt: skip
        adapter = next((out / "adapters").glob(f"arm-{arm}*/round-1"))
        cowest(*base, "--methods", "collab", "--adapter", str(adapter), env=env)
        stamps[f"{arm} round s"] = round(time.perf_counter() - start, 1)
    cowest("report", "--out", str(out / "report"), "--db", db, env=env)
    return {"n": n, "train queries": train, "corpus passages": len(corpus), "wall": stamps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench/out/rag")
    p.add_argument("--n", type=int, default=24, help="held-out IfQA questions in the table")
    p.add_argument("--train", type=int, default=16, help="IfQA training questions of each feedback arm's round")
    p.add_argument("--skip-table", action="store_true")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    questions = [r["question"] for r in json.loads((IFQA / "dev.json").read_text())[:200]]
    figures = {"BM25 latency": latency(out, questions)}
    print(json.dumps(figures, indent=2), flush=True)
    if not args.skip_table:
        figures["Table 1"] = table(out, args.n, args.train)
    (out / "rag.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
