"""Self-hosted strong models: a one-slot server slows a run down instead of failing it, and a fast
one still gets many requests at once (per-model adaptive in-flight limits, models/limits.py)."""

import pytest
from conftest import write_jsonl
from test_collect_graph import mcq, script, scripted_collect

from cowest.collect import CollectOptions, collect, exit_code
from cowest.core import EXIT_OK
from cowest.models.limits import AdaptiveLimit

pytestmark = pytest.mark.slow  # starts servers


def options(tmp_path, tiny_model, db_url, queries: int, **changes) -> CollectOptions:
    data = write_jsonl(tmp_path / "mcq.jsonl", [mcq(i, f"Question number {i}?") for i in range(queries)])
    return scripted_collect(str(data), tiny_model, db_url, **{"samples": 2, "run": "slow", "judge": "exact", **changes})


def test_a_one_slot_server_queues_without_a_failed_call(serve, tmp_path, tiny_model, db_url):
    srv = serve(script, slots=1)
    srv.latency = 0.3
    # 8 queries in flight, each sending its requests: a queue of 8 would wait 2.4 s at the server,
    # far past the 0.9 s timeout.
    summary = collect(options(tmp_path, tiny_model, db_url, 6, concurrency=8, timeout=0.9), progress=False)
    assert exit_code(summary) == EXIT_OK and summary.failed_calls == 0
    assert summary.pairs >= 0 and summary.calls_made["strong_solo"] == 6
    assert summary.in_flight_limits["openai:scripted"] <= 3  # what one slot serves within the timeout


def test_a_fast_server_still_gets_many_requests_at_once(serve, tmp_path, tiny_model, db_url):
    srv = serve(script)
    srv.latency = 0.2
    summary = collect(options(tmp_path, tiny_model, db_url, 24, concurrency=16), progress=False)
    assert exit_code(summary) == EXIT_OK
    assert srv.max_busy >= 12 and summary.in_flight_limits["openai:scripted"] >= 16


def test_a_pinned_limit_is_kept(serve, tmp_path, tiny_model, db_url):
    srv = serve(script)
    srv.latency = 0.05
    opts = options(tmp_path, tiny_model, db_url, 8, concurrency=8, strong_concurrency=1)
    assert exit_code(collect(opts, progress=False)) == EXIT_OK
    assert srv.max_busy == 1


def test_the_limit_halves_on_push_back_and_grows_back_one_window_at_a_time():
    limit = AdaptiveLimit()
    assert limit.current == 2
    for _ in range(2 + 4):  # slow start: double after each full window
        limit.success()
    assert limit.current == 8
    limit.push_back()
    assert limit.current == 4
    for _ in range(4):  # then one more per window
        limit.success()
    assert limit.current == 5
    for _ in range(5):
        limit.push_back()
    assert limit.current == 1  # never below one
    for _ in range(3):
        limit.success(slow=True)  # took more than half the timeout: the server queues already
    assert limit.current == 1
    pinned = AdaptiveLimit(fixed=3)
    pinned.push_back()
    pinned.success()
    assert pinned.current == 3


def test_hundreds_of_requests_are_in_flight_from_one_process_without_a_thread_each(serve):
    """Remote requests wait on one event loop (the async client): 200 at once against a server
    that takes 1 s each, while the process holds a few threads, not one per request."""
    import threading

    from cowest.models import RequestPolicy, Sampling, get_model

    srv = serve(lambda prompt: "Explanation: e.\nAnswer: A")
    srv.latency = 1.0
    model = get_model("openai:scripted", policy=RequestPolicy(max_in_flight=256, timeout=30))
    threads: list[int] = []

    def ours() -> int:  # the scripted server runs in this process: its handler threads are not the client's
        return sum("process_request" not in t.name for t in threading.enumerate())

    before = ours()  # pools left by earlier tests of this process count on both sides
    sampler = threading.Timer(0.8, lambda: threads.append(ours() - before))
    sampler.start()
    prompts = [[{"role": "user", "content": f"Question {i}?"}] for i in range(200)]
    outcomes = model.generate_each(prompts, [1] * 200, Sampling(max_new_tokens=4))
    assert all(not isinstance(r, Exception) for outcome in outcomes for r in outcome)
    assert srv.max_busy >= 150  # the server held (nearly) all of them at once
    assert threads and threads[0] < 20  # threads the 200 requests added


def test_async_slots_hold_the_limit_and_a_cancelled_waiter_blocks_no_one():
    import asyncio

    limit = AdaptiveLimit(fixed=2)
    held, most = 0, 0

    async def request(seconds: float) -> None:
        nonlocal held, most
        async with limit.aslot():
            held += 1
            most = max(most, held)
            await asyncio.sleep(seconds)
            held -= 1

    async def scenario() -> None:
        first = [asyncio.create_task(request(0.05)) for _ in range(2)]
        await asyncio.sleep(0.01)
        doomed = asyncio.create_task(request(0.05))  # waits for a slot, then gives up
        rest = [asyncio.create_task(request(0.02)) for _ in range(6)]
        await asyncio.sleep(0.01)
        doomed.cancel()
        await asyncio.wait_for(asyncio.gather(*first, *rest), timeout=5)

    asyncio.run(scenario())
    assert most == 2 and held == 0 and limit.in_flight == 0
