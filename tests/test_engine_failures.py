"""A local model whose forward fails mid-run: the calls it was serving fail, the job ends (exit 3),
nothing waits forever."""

import threading

import pytest
import torch
from conftest import write_jsonl
from test_collect_graph import mcq, script, scripted_collect

from cowest.collect import collect, exit_code
from cowest.core import EXIT_FAILURES
from cowest.models.registry import clear_models, get_model
from cowest.storage import get_store

pytestmark = pytest.mark.slow  # starts servers


class FailAfter:
    """A forward hook on the real model that raises (as a CUDA error or an out-of-memory would)
    from its `after`-th forward on."""

    def __init__(self, after: int, error: BaseException):
        self.after, self.error, self.calls = after, error, 0

    def __call__(self, module, args, kwargs):
        self.calls += 1
        if self.calls >= self.after:
            raise self.error


def finished_within(seconds: float, job):
    """`job()`'s result, or a failed test if it is still running after `seconds` (a hang)."""
    result: dict = {}

    def target():
        try:
            result["value"] = job()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"the job still runs after {seconds} s: a hang"
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.mark.parametrize(
    "error", [RuntimeError("CUDA error: an illegal memory access was encountered"), torch.OutOfMemoryError("OOM")]
)
def test_a_forward_that_raises_mid_run_fails_its_calls_and_the_job_ends(serve, tiny_model, tmp_path, db_url, error):
    serve(script)
    data = write_jsonl(tmp_path / "m.jsonl", [mcq(i, f"Question number {i}?") for i in range(24)])
    opts = scripted_collect(str(data), tiny_model, db_url, concurrency=16, max_failures=1000)
    clear_models()
    model = get_model(opts.weak)
    hook = FailAfter(after=6, error=error)
    handle = model.base.model.register_forward_pre_hook(hook, with_kwargs=True)  # type: ignore[attr-defined]
    try:
        summary = finished_within(60, lambda: collect(opts, progress=False))
    finally:
        handle.remove()
        clear_models()
    store = get_store(db_url)
    drafts = [c for c in store.calls_of(store.run_id("t")) if c.role == "weak_draft"]
    failed = [c for c in drafts if c.error]
    assert hook.calls >= 6 and failed, "the forward never failed"
    assert all(type(error).__name__ in c.error or str(error) in c.error for c in failed)
    assert summary.queries == 24 and summary.failed_calls >= len(failed)
    assert exit_code(summary) == EXIT_FAILURES


def test_a_request_its_caller_gave_up_on_fails_none_of_those_decoded_beside_it(tiny_model):
    """A job that stops cancels what it waits for; the decoding thread then has no one to hand that
    request's generations to, which must not fail the requests in the same batch."""
    from cowest.models.base import Sampling

    clear_models()
    model = get_model(f"huggingface:{tiny_model}")
    started, go_on = threading.Event(), threading.Event()

    def hold_first_forward(module, args, kwargs):
        started.set()
        go_on.wait(10)

    handle = model.base.model.register_forward_pre_hook(hold_first_forward, with_kwargs=True)  # type: ignore[attr-defined]
    sampling = Sampling(max_new_tokens=4)
    try:
        given_up = model.base.batches.submit(None, [[{"role": "user", "content": "one"}]], 1, sampling)
        kept = model.base.batches.submit(None, [[{"role": "user", "content": "two"}]], 1, sampling)
        assert started.wait(10)
        assert given_up.cancel() or given_up.done()
        go_on.set()
        assert len(kept.result(timeout=30)[0]) == 1
    finally:
        go_on.set()
        handle.remove()
        clear_models()
