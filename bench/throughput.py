"""Throughput figures of the throughput issue, each a ratio measured in one run (tiny weak model, the
scripted OpenAI-compatible server of the tests on 127.0.0.1, MedMCQA-shaped queries, K=4, LLM judge):

1. marginal throughput at --concurrency 16 against 1, 200 ms server: (time for 48 queries) minus
   (time for 16), which cancels start-up and model loading;
2. orchestration CPU per remote request: process CPU seconds / requests, 0 ms server;
3. K=4 samples of 8 queries in one batch against one query at a time, in tokens/s (the bundled
   SmolLM2 on CPU unless --weak is given);
4. three `cowest collect` processes on one run and one store against one process: requests sent;
5. `cowest --help` and `cowest runs` wall time.

The CPU-bound figures (1 at --concurrency 16, and 2) are taken --repeat times, as the median and the
best: on a shared 2-core machine the same fixed Python loop takes from 0.33 to 0.64 CPU seconds from
one minute to the next, so one sample says little. `reference loop s` (the CPU time of a fixed loop,
taken beside each sample) tells how fast the machine was meanwhile.

    python bench/throughput.py [--out bench/out/throughput] [--skip-smollm] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import write_jsonl  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402
from test_collect_graph import mcq, script  # noqa: E402
from test_reliability import cli_env, collect_argv, spawn  # noqa: E402
from tiny_model import build_tiny_model  # noqa: E402

from cowest.collect import CollectOptions, collect  # noqa: E402


def options(data: str, model: str, db: str, run: str, concurrency: int, limit: int) -> CollectOptions:
    return CollectOptions(
        task="medmcqa",
        data=data,
        limit=limit,
        samples=4,
        run=run,
        weak=f"huggingface:{model}",
        strong="openai:scripted",
        judge="llm",
        max_new_tokens=12,
        db=db,
        concurrency=concurrency,
    )


@contextmanager
def served(latency: float = 0.0) -> Iterator[tuple[str, Callable[[], int]]]:
    """The scripted server in a process of its own, so its CPU is not counted as ours: its URL, and
    a function that reads how many requests it has received."""
    import urllib.request

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(latency, queue), daemon=True)
    proc.start()
    url = queue.get(timeout=60)
    os.environ.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench")
    try:
        yield url, lambda: int(json.load(urllib.request.urlopen(url + "/stats"))["requests"])
    finally:
        proc.kill()


def _serve(latency: float, queue) -> None:
    with ScriptedServer(script) as srv:
        srv.latency = latency
        queue.put(srv.url)
        while True:
            time.sleep(3600)


def timed_collect(opts: CollectOptions) -> float:
    start = time.perf_counter()
    collect(opts, progress=False)
    return time.perf_counter() - start


def reference_loop() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast this machine runs Python at the moment."""
    start, total = time.process_time(), 0
    for i in range(1_000_000):
        total += i * i
    return time.process_time() - start


def marginal(data: str, model: str, tmp: Path, repeat: int) -> dict:
    """Concurrency 1 once (it waits on the server: the machine's speed hardly matters), 16 `repeat` times."""
    out: dict = {}
    with served(latency=0.2):
        for c, times in ((1, 1), (16, repeat)):
            samples = []
            for r in range(times):
                t = {}
                for n in (16, 48):
                    db = f"sqlite:///{tmp / f'marginal-{c}-{n}-{r}.db'}"
                    t[n] = timed_collect(options(data, model, db, f"m{c}-{n}-{r}", c, n))
                samples.append((t[16], t[48], t[48] - t[16], reference_loop()))
            out[c] = samples
    one = out[1][0][2]
    many = [m for _, _, m, _ in out[16]]
    return {
        "concurrency 1": {
            "16 queries s": round(out[1][0][0], 2),
            "48 queries s": round(out[1][0][1], 2),
            "marginal s": round(one, 2),
        },
        "concurrency 16 (each sample)": [
            {
                "16 queries s": round(a, 2),
                "48 queries s": round(b, 2),
                "marginal s": round(m, 2),
                "reference loop s": round(ref, 3),
            }
            for a, b, m, ref in out[16]
        ],
        "16 / 1 marginal throughput (median)": round(one / median(many), 2),
        "16 / 1 marginal throughput (best)": round(one / min(many), 2),
    }


def cpu_per_request(data: str, model: str, tmp: Path, repeat: int) -> dict:
    samples = []
    with served(latency=0.0) as (_url, requests_so_far):
        # Load and warm up on a run of the measured size: a process's first run of 48 queries at
        # --concurrency 16 pays once for what later runs reuse (the allocator's arenas, first calls).
        collect(options(data, model, f"sqlite:///{tmp / 'warm.db'}", "warm", 16, 48), progress=False)
        for r in range(repeat):
            ref = reference_loop()
            sent = requests_so_far()  # read outside the measured span
            before = resource.getrusage(resource.RUSAGE_SELF)
            summary = collect(
                options(data, model, f"sqlite:///{tmp / f'cpu-{r}.db'}", f"cpu{r}", 16, 48), progress=False
            )
            after = resource.getrusage(resource.RUSAGE_SELF)
            requests = requests_so_far() - sent
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            calls = summary.spending.sent + summary.spending.reused
            samples.append((1000 * cpu / requests, requests, calls, 1000 * cpu / calls, cpu, ref))
    per_request = [s[0] for s in samples]
    return {
        "each sample": [
            {
                "CPU ms per remote request": round(ms, 2),
                "remote requests": n,
                "remote calls (requests and copies of stored answers)": calls,
                "CPU ms per remote call": round(per_call, 2),
                "process CPU s": round(cpu, 2),
                "reference loop s": round(ref, 3),
            }
            for ms, n, calls, per_call, cpu, ref in samples
        ],
        "CPU ms per remote request, median (the tiny weak model included; the server runs apart)": round(
            median(per_request), 2
        ),
        "CPU ms per remote request, best": round(min(per_request), 2),
    }


def k_samples(weak: str) -> dict:
    """Tokens/s of K=4 samples for 8 queries in one batch vs the same 8 one query at a time."""
    import torch

    from cowest.models import Sampling, get_model
    from cowest.tasks import get_task
    from cowest.tasks.prompts import weak_draft_prompt

    task = get_task("medmcqa")
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "medmcqa" / "dev_part.jsonl"
    examples = task.load(str(shared), limit=8).examples
    prompts = [weak_draft_prompt(ex.query, "cot") for ex in examples]
    model = get_model(weak)
    sampling = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=64)
    model.generate(prompts[:1], n=4, sampling=sampling)  # load and warm up
    torch.manual_seed(0)

    def run(batches):
        start, tokens = time.perf_counter(), 0
        for batch in batches:
            for gens in model.generate(batch, n=4, sampling=sampling):
                tokens += sum(g.tokens_out or 0 for g in gens)
        return tokens / (time.perf_counter() - start), time.perf_counter() - start

    one, one_s = run([[p] for p in prompts])
    batched, batched_s = run([prompts])
    return {
        "model": weak,
        "one query at a time tokens/s": round(one, 1),
        "8 queries in one batch tokens/s": round(batched, 1),
        "batched / one at a time": round(batched / one, 2),
        "seconds (one at a time, batched)": [round(one_s, 1), round(batched_s, 1)],
    }


def workers(data: str, model: str, tmp: Path) -> dict:
    out = {}
    for n in (1, 3):
        db = f"sqlite:///{tmp / f'workers-{n}.db'}"
        with ScriptedServer(script) as srv:
            srv.latency = 0.05
            argv = collect_argv(data, model, db, "--limit", "16")
            procs = [spawn(argv, cli_env(srv.url, tmp)) for _ in range(n)]
            for p in procs:
                p.communicate(timeout=900)
            out[n] = {"exit codes": [p.returncode for p in procs], "requests": len(srv.requests)}
    return {
        "1 worker": out[1],
        "3 workers": out[3],
        "3 / 1 requests": round(out[3]["requests"] / out[1]["requests"], 3),
    }


def cli_times(tmp: Path) -> dict:
    def wall(*argv):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cowest.cli", *argv], capture_output=True, check=True)
        return round(time.perf_counter() - start, 2)

    db = f"sqlite:///{tmp / 'workers-1.db'}"
    return {"cowest --help s": wall("--help"), "cowest runs s (small store)": wall("runs", "--db", db)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench/out/throughput")
    p.add_argument("--weak", default="smollm2", help="the model of figure 3")
    p.add_argument("--skip-smollm", action="store_true")
    p.add_argument("--repeat", type=int, default=5, help="samples of the CPU-bound figures 1 and 2")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="cowest-throughput-"))
    model = str(build_tiny_model(tmp / "tiny-llama"))
    data = str(write_jsonl(tmp / "mcq.jsonl", [mcq(i, f"Question number {i}?") for i in range(48)]))
    figures = {
        "marginal throughput": marginal(data, model, tmp, args.repeat),
        "orchestration CPU": cpu_per_request(data, model, tmp, args.repeat),
        "three workers": workers(data, model, tmp),
        "CLI": cli_times(tmp),
    }
    if not args.skip_smollm:
        figures["K samples"] = k_samples(args.weak)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
