"""Model specs, and the local model as callers see it: its batch server (requests joining, fairness,
failures, awaited requests), K samples from one prefill, `--weak-engine` on a CPU."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cowest.models import ModelSpec, ModelSpecError, Sampling, get_model


@pytest.mark.parametrize(
    "text,provider,model,adapter",
    [
        ("smollm2", "huggingface", "smollm2", None),
        ("smollm2@/ad/r1", "huggingface", "smollm2", "/ad/r1"),
        ("huggingface:/m/base@/ad/r2", "huggingface", "/m/base", "/ad/r2"),
        ("huggingface:HuggingFaceTB/SmolLM2-135M-Instruct", "huggingface", "HuggingFaceTB/SmolLM2-135M-Instruct", None),
        ("openai:gpt-4o", "openai", "gpt-4o", None),
        ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", None),  # LangChain's init_chat_model
        ("bedrock_converse:anthropic.claude-3@x", "bedrock_converse", "anthropic.claude-3@x", None),
    ],
)
def test_spec_parsing_round_trips(text, provider, model, adapter):
    spec = ModelSpec.parse(text)
    assert (spec.provider, spec.model, spec.adapter) == (provider, model, adapter)
    assert ModelSpec.parse(str(spec)) == spec


@pytest.mark.parametrize("bad", ["", "gpt-4o", "Anthropic:claude", "openai:", "huggingface:", "my-provider:x"])
def test_bad_specs(bad):
    with pytest.raises(ModelSpecError):
        ModelSpec.parse(bad)


@contextmanager
def forward_rows(model) -> Iterator[list[tuple[int, int]]]:
    """(rows, tokens) of every forward pass of the local model inside the block."""
    shapes: list[tuple[int, int]] = []
    hook = model.register_forward_pre_hook(
        lambda _m, _a, kw: shapes.append(tuple(kw["input_ids"].shape)), with_kwargs=True
    )
    try:
        yield shapes
    finally:
        hook.remove()


def test_k_samples_come_from_one_prefill_of_the_prompt(tiny_model):
    model = get_model(f"huggingface:{tiny_model}")
    prompt = [{"role": "user", "content": "Question: why?"}]
    with forward_rows(model.base.model) as shapes:
        gens = model.generate([prompt], n=5, sampling=Sampling(temperature=1.0, top_p=0.9, max_new_tokens=12))[0]
    prefills = [s for s in shapes if s[1] > 1]
    assert len(prefills) == 1 and prefills[0][0] == 1  # the prompt went through the model once, not 5 times
    assert shapes[1] == (5, 1)  # then its 5 continuations, one token per step
    assert len(gens) == 5 and len({g.text for g in gens}) > 1  # sampled, not five copies of one greedy answer
    assert all(g.tokens_in and 1 <= g.tokens_out <= 12 for g in gens)


def test_greedy_is_deterministic(tiny_model):
    model = get_model(f"huggingface:{tiny_model}")
    prompt = [{"role": "user", "content": "Same prompt"}]
    a = model.generate([prompt, prompt], n=1, sampling=Sampling(max_new_tokens=8))
    assert a[0][0].text == a[1][0].text


def asked_while_the_first_decodes(model, requests: list[tuple[str, Sampling]]) -> tuple[list[int], dict]:
    """Ask requests[0], hold its first decoding step until the others have queued (in order), then
    let all run: the rows of every forward pass, and each request's generations."""
    import threading
    import time

    rows: list[int] = []
    gate = threading.Event()

    def hold_first_step(_module, _args, kwargs):
        rows.append(kwargs["input_ids"].shape[0])
        if len(rows) == 2:  # the first request's prefill, then its first step: hold it there
            gate.wait(5)

    results: dict = {}

    def ask(i):
        content, sampling = requests[i]
        results[i] = model.generate([[{"role": "user", "content": content}]], n=2, sampling=sampling)

    hook = model.base.model.register_forward_pre_hook(hold_first_step, with_kwargs=True)
    try:
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(requests))]
        deadline = time.monotonic() + 10
        threads[0].start()
        while len(rows) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        for i, t in enumerate(threads[1:], start=1):
            t.start()
            while len(model.base.batches._pending) < i and time.monotonic() < deadline:
                time.sleep(0.01)
        gate.set()
        for t in threads:
            t.join(30)
    finally:
        hook.remove()
    return rows, results


def test_requests_that_arrive_while_others_decode_join_them(tiny_model):
    """Continuous batching: requests that arrive while the model decodes join its rows at the next
    step instead of waiting for the batch to end, and each gets what it gets alone."""
    model = get_model(f"huggingface:{tiny_model}")
    sampling = Sampling(max_new_tokens=6)
    requests = [(f"question {i}", sampling) for i in range(4)]
    rows, results = asked_while_the_first_decodes(model, requests)
    # greedy: one row per prompt. The first prompt's prefill and step; the three that arrived
    # meanwhile prefilled together; then all four decode in each step.
    assert rows[:4] == [1, 1, 3, 4], rows
    for i, (content, _) in enumerate(requests):
        alone = model.generate([[{"role": "user", "content": content}]], n=2, sampling=sampling)
        assert [g.text for g in results[i][0]] == [g.text for g in alone[0]]


def test_a_request_that_decodes_otherwise_is_not_overtaken(tiny_model):
    """A waiting request that cannot join the running rows (other sampling) goes next: requests
    like the running ones that arrive after it wait too, rather than keeping the batch going."""
    model = get_model(f"huggingface:{tiny_model}")
    like, other = Sampling(max_new_tokens=6), Sampling(max_new_tokens=6, repetition_penalty=1.3)
    rows, results = asked_while_the_first_decodes(model, [("first", like), ("other", other), ("later", like)])
    assert max(rows) == 1, rows  # nobody joined the first; the last went with nobody either
    assert [len(results[i][0]) for i in range(3)] == [2, 2, 2]


def test_a_request_that_cannot_start_fails_and_the_next_is_served(tiny_model, tmp_path):
    """An adapter that is not there fails its own request, and the model's worker goes on."""
    from cowest.models import ModelSpecError

    prompt = [[{"role": "user", "content": "question"}]]
    broken = get_model(f"huggingface:{tiny_model}@{tmp_path / 'no-adapter'}")
    with pytest.raises(ModelSpecError, match="adapter folder not found"):
        broken.generate(prompt, n=1, sampling=Sampling(max_new_tokens=4))
    assert get_model(f"huggingface:{tiny_model}").generate(prompt, n=1, sampling=Sampling(max_new_tokens=4))[0][0]


def test_awaited_local_requests_hold_no_thread_and_get_what_a_blocking_call_gets(tiny_model, tmp_path):
    """On an event loop (the jobs, Studio) a local model's requests wait for its decoding thread
    as futures, not as threads; a request that cannot start fails the same way."""
    import asyncio
    import threading

    from cowest.models import ModelSpecError

    model = get_model(f"huggingface:{tiny_model}")
    sampling = Sampling(max_new_tokens=6)
    prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(24)]
    blocking = model.generate_each(prompts, [1] * len(prompts), sampling)

    async def all_at_once():
        threads = threading.active_count()
        asked = [asyncio.ensure_future(model.agenerate_each([p], [1], sampling)) for p in prompts]
        await asyncio.sleep(0)
        assert threading.active_count() <= threads + 1  # at most the decoding thread, started now
        return [out[0] for out in await asyncio.gather(*asked)]

    awaited = asyncio.run(all_at_once())
    assert [[g.text for g in out] for out in awaited] == [[g.text for g in out] for out in blocking]
    broken = get_model(f"huggingface:{tiny_model}@{tmp_path / 'no-adapter'}")
    with pytest.raises(ModelSpecError, match="adapter folder not found"):
        asyncio.run(broken.agenerate_each(prompts[:1], [1], sampling))


def test_the_compiled_engine_on_a_cpu_warns_and_changes_nothing(tiny_model):
    """--weak-engine compiled is for CUDA; on a CPU the model runs as it would on auto (the loop)."""
    import torch

    from cowest.graph import CollabContext
    from cowest.models.local import LocalBase

    ctx = CollabContext(weak=f"huggingface:{tiny_model}", weak_engine="compiled")
    assert ctx.request_policy_for(ctx.weak_spec).engine == "compiled"
    assert ctx.request_policy_for(ctx.strong_spec).engine == "auto"
    with pytest.warns(UserWarning, match="CUDA"):
        compiled = LocalBase(tiny_model, engine="compiled")
    plain = LocalBase(tiny_model)
    prompt = [[{"role": "user", "content": "Is fire hot?"}]]
    sampled = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=6)
    torch.manual_seed(3)
    a = compiled.run_batch(None, prompt, 3, sampled)
    torch.manual_seed(3)
    b = plain.run_batch(None, prompt, 3, sampled)
    assert compiled.engine == plain.engine == "loop" and [g.text for g in a[0]] == [g.text for g in b[0]]


@pytest.mark.parametrize("engine", ["loop", "generate"])
def test_every_transformers_engine_gives_greedy_generates_tokens(tiny_model, engine):
    """Greedy, each engine gives the text transformers' generate gives: an engine changes the cost,
    not the answer."""
    import torch

    from cowest.models.local import LocalBase

    base = LocalBase(tiny_model, engine=engine)
    prompts = [[{"role": "user", "content": c}] for c in ("Is fire hot?", "A much longer prompt, is it?")]
    greedy = Sampling(max_new_tokens=8, repetition_penalty=1.1)
    enc = base.encode(prompts)
    with torch.inference_mode():
        out = base.model.generate(
            **enc, max_new_tokens=8, do_sample=False, repetition_penalty=1.1, pad_token_id=base.tokenizer.pad_token_id
        )
    expected = [base.tokenizer.decode(r, skip_special_tokens=True).strip() for r in out[:, enc["input_ids"].shape[1] :]]
    got = base.batches.generate(None, prompts, 2, greedy)
    assert [[g.text for g in row] for row in got] == [[e, e] for e in expected]


def test_the_vllm_engine_without_vllm_is_one_line_of_bad_input(tiny_model, tmp_path, capsys):
    from cowest.models import ModelSpecError, get_model
    from cowest.models.base import RequestPolicy
    from cowest.models.vllm_engine import vllm_available

    if vllm_available():
        pytest.skip("vLLM with CUDA is installed here")
    with pytest.raises(ModelSpecError, match="needs vLLM on a CUDA machine"):
        get_model(f"huggingface:{tiny_model}", policy=RequestPolicy(engine="vllm"))
    from cowest.cli import main

    mcq = tmp_path / "m.jsonl"
    mcq.write_text('{"id": "1", "question": "Q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1}\n')
    argv = ["collect", "--task", "medmcqa", "--data", str(mcq), "--weak", f"huggingface:{tiny_model}"]
    argv += ["--strong", f"huggingface:{tiny_model}"]  # no bundled model needed (the oldest-versions venv)
    argv += ["--judge", "exact", "--weak-engine", "vllm", "--db", f"sqlite:///{tmp_path / 'v.db'}"]
    assert main(argv) == 2  # before anything is spent or written: no failed calls, no store
    assert "needs vLLM" in capsys.readouterr().err and not (tmp_path / "v.db").exists()


def test_loaded_bases_are_bounded_least_recently_used_first(tiny_model, tmp_path, monkeypatch):
    import shutil

    from cowest.models import registry

    copies = [shutil.copytree(tiny_model, tmp_path / f"m{i}") for i in range(3)]
    monkeypatch.setattr(registry, "MAX_LOADED_BASES", 2)
    registry.clear_models()
    first = get_model(f"huggingface:{copies[0]}").base
    get_model(f"huggingface:{copies[1]}")
    assert get_model(f"huggingface:{copies[0]}").base is first  # used again: now the most recent
    get_model(f"huggingface:{copies[2]}")  # the third drops the least recently used: copies[1]
    assert {m for m, _ in registry._bases} == {str(copies[0]), str(copies[2])}
    registry.clear_models()
