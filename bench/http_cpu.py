"""CPU per remote request of the `openai:` client alone: 400 chat completions through the model
class (`generate_each`, 16 in flight) against the scripted server of the tests in a process of its
own (its CPU is not counted). Prints one JSON object: the median and best of --repeat samples, and a
reference loop's CPU time beside each (how fast the machine was).

    python bench/http_cpu.py [--requests 400] [--repeat 5] [--client cowest|openai-httpx|openai-aiohttp]

--client openai-*: the same requests through the openai SDK's AsyncOpenAI instead (16 at once with
asyncio.gather, `max_retries=0`; its default httpx transport, or aiohttp: `pip install
'openai[aiohttp]'`), to weigh the SDK against cowest's own client (issue 30, item 6).

To compare versions of cowest in one run, alternate them, each with PYTHONPATH set to an import
root in which all of cowest is that version's (`alternate.import_root(rev, work)` builds one; a
worktree itself on PYTHONPATH mixes it with the working tree). "cowest" in the output says which.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from scripted_server import ScriptedServer  # noqa: E402


def _serve(queue) -> None:
    with ScriptedServer(lambda prompt: "Explanation: e.\nAnswer: A") as srv:
        queue.put(srv.url)
        while True:
            time.sleep(3600)


def reference_loop() -> float:
    start, total = time.process_time(), 0
    for i in range(1_000_000):
        total += i * i
    return time.process_time() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--client", choices=["cowest", "openai-httpx", "openai-aiohttp"], default="cowest")
    args = p.parse_args()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    server = ctx.Process(target=_serve, args=(queue,), daemon=True)
    server.start()
    url = queue.get(timeout=60)
    os.environ.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench")

    import cowest.nodes

    batch = [[{"role": "user", "content": f"Question {i}?"}] for i in range(16)]
    send = _cowest_sender(batch) if args.client == "cowest" else _sdk_sender(batch, url, args.client)
    send()  # connect and warm up
    samples = []
    for _ in range(args.repeat):
        ref = reference_loop()
        before = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(args.requests // 16):
            send()
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        samples.append({"CPU ms per request": round(1000 * cpu / args.requests, 3), "reference loop s": round(ref, 3)})
    server.kill()
    per_request = [s["CPU ms per request"] for s in samples]
    print(
        json.dumps(
            {
                "cowest.nodes": str(Path(cowest.nodes.__file__).resolve().parent),
                "client": args.client,
                "requests per sample": args.requests,
                "samples": samples,
                "median": median(per_request),
                "best": min(per_request),
            }
        )
    )


def _cowest_sender(batch: list) -> Callable[[], None]:
    from cowest.models import Sampling, get_model

    model, sampling = get_model("openai:scripted"), Sampling(max_new_tokens=8)
    return lambda: model.generate_each(batch, [1] * len(batch), sampling)


def _sdk_sender(batch: list, url: str, client: str) -> Callable[[], None]:
    """The batch through the openai SDK, on one event loop of this thread."""
    import asyncio

    from openai import AsyncOpenAI, DefaultAioHttpClient

    loop = asyncio.new_event_loop()
    http = DefaultAioHttpClient() if client == "openai-aiohttp" else None
    sdk = AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0, http_client=http)

    async def one(messages: list) -> str:
        done = await sdk.chat.completions.create(model="scripted", messages=messages, max_tokens=8, temperature=0)
        return done.choices[0].message.content or ""

    async def all_of() -> None:
        await asyncio.gather(*(one(m) for m in batch))

    return lambda: loop.run_until_complete(all_of())


if __name__ == "__main__":
    main()
