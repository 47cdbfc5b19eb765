"""The local weak model's engines on a CPU, on the bundled SmolLM2-135M: 8 queries x K=4 x 64 sampled
tokens submitted at once to the engine's batch server (as the graph's queries are), every row
decoding its 64 tokens (no stop token), tokens/s of each. With several revisions, each is imported
whole from its own worktree (bench/alternate.py's import roots) and the samples alternate, so the
machine's drift falls on every revision alike.

    python bench/cpu_engines.py [--revisions 8645e6c,WORKTREE] [--engines loop,generate] [--passes 3]

WORKTREE is this checkout as it is; a revision's own engines are those it has (8645e6c: its loop).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sample(engine: str, queries: int, k: int, tokens: int) -> dict:
    """One timed run (after a warm-up) of `engine` in this process."""
    import torch

    from cowest.models import Sampling, bundled_model_dir
    from cowest.models.local import LocalBase
    from cowest.tasks import get_task
    from cowest.tasks.prompts import weak_draft_prompt

    examples = get_task("medmcqa").load(str(ROOT / "examples/medmcqa-sample.jsonl"), limit=queries).examples
    prompts = [weak_draft_prompt(ex.query, "cot") for ex in examples]
    try:
        base = LocalBase(str(bundled_model_dir()), engine=engine)  # type: ignore[call-arg]
    except TypeError:  # a revision before engines: its one path is the loop
        base = LocalBase(str(bundled_model_dir()))
    base.stop_ids = {-1}  # every row decodes all its tokens: the same work for every engine
    if getattr(base, "whole_batches", False):
        base.model.generation_config.eos_token_id = None  # generate's own stop
    sampled = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=tokens)
    torch.manual_seed(0)
    seconds = 0.0
    for _ in range(2):  # the first warms up
        start = time.perf_counter()
        futures = [base.batches.submit(None, [p], k, sampled) for p in prompts]
        done = [f.result() for f in futures]
        seconds = time.perf_counter() - start
    produced = sum(g.tokens_out or 0 for out in done for gens in out for g in gens)
    import cowest.models.local as local

    where = local.__file__
    return {"tokens": produced, "seconds": round(seconds, 3), "tokens/s": round(produced / seconds, 1), "from": where}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--revisions", default="WORKTREE")
    p.add_argument("--engines", default="loop,generate", help="engines of revisions that have them")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--queries", type=int, default=8)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(sample(args.child, args.queries, args.samples, args.tokens)))
        return
    sys.path.insert(0, str(ROOT / "bench"))
    from alternate import import_root

    work = Path(tempfile.mkdtemp(prefix="cowest-engines-"))
    arms = []
    for rev in args.revisions.split(","):
        root = str(ROOT) if rev == "WORKTREE" else str(import_root(rev, work))
        engines = args.engines.split(",") if rev == "WORKTREE" else ["loop"]
        arms += [(rev, root, e) for e in engines]
    results: dict[str, list[float]] = {}
    for _ in range(args.passes):
        for rev, root, engine in arms:
            env = {**os.environ, "PYTHONPATH": root if rev != "WORKTREE" else os.environ.get("PYTHONPATH", "")}
            cmd = [sys.executable, __file__, "--child", engine, "--queries", str(args.queries)]
            cmd += ["--samples", str(args.samples), "--tokens", str(args.tokens)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0 and '"tokens/s"' in done.stdout:
                # measured, then died at exit (SIGABRT from a thread at interpreter shutdown, seen once
                # in 9 runs of either revision): the figure stands, the exit is recorded
                print(json.dumps({"arm": f"{rev} {engine}", "exit": done.returncode}), flush=True)
            elif done.returncode != 0:
                raise SystemExit(f"{rev} {engine}: exit {done.returncode}\n{done.stderr[-2000:]}")
            out = done.stdout.strip()
            figure = json.loads(out.splitlines()[-1])
            if rev != "WORKTREE":  # the revision's own modules, not the editable install's
                assert str(Path(figure["from"]).resolve()).startswith(str(work)), f"{figure['from']}: versions mixed"
            results.setdefault(f"{rev} {engine}", []).append(figure["tokens/s"])
            print(json.dumps({"arm": f"{rev} {engine}", **figure}), flush=True)
    for arm, values in results.items():
        print(f"{arm}: median {statistics.median(values)} tokens/s over {len(values)} runs {values}")
    first = next(iter(results))
    for arm, values in list(results.items())[1:]:  # each pass ran every arm: paired ratios
        print(f"{arm} / {first}: {paired_ratio(values, results[first])}")


def paired_ratio(a: list[float], b: list[float]) -> str:
    """The mean of the per-pass ratios a/b with its n and a 95% t interval."""
    from scipy.stats import t

    ratios = [x / y for x, y in zip(a, b)]
    mean = statistics.mean(ratios)
    if len(ratios) < 2:
        return f"{mean:.3f} (n=1, no interval)"
    half = t.ppf(0.975, len(ratios) - 1) * statistics.stdev(ratios) / len(ratios) ** 0.5
    return f"{mean:.3f} [95% CI {mean - half:.3f}, {mean + half:.3f}] (n={len(ratios)} passes)"


if __name__ == "__main__":
    main()
