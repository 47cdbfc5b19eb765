"""Model specs and the local model's batched sampling."""

import pytest

from cowest.nodes.models import ModelSpec, ModelSpecError, Sampling, get_model


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


def test_k_samples_come_from_one_batched_generate(tiny_model, monkeypatch):
    model = get_model(f"huggingface:{tiny_model}")
    calls = []
    real = model.base.model.generate

    def counting(*args, **kwargs):
        calls.append(len(kwargs["input_ids"]))  # rows decoded in this call: K per prompt
        return real(*args, **kwargs)

    monkeypatch.setattr(model.base.model, "generate", counting)
    prompt = [{"role": "user", "content": "Question: why?"}]
    gens = model.generate([prompt], n=5, sampling=Sampling(temperature=1.0, top_p=0.9, max_new_tokens=12))[0]
    assert calls == [5] and len(gens) == 5  # one generate, the prompt's 5 rows from one prefill
    assert len({g.text for g in gens}) > 1  # sampled, not five copies of one greedy answer
    assert all(g.tokens_in and 1 <= g.tokens_out <= 12 for g in gens)


def test_greedy_is_deterministic(tiny_model):
    model = get_model(f"huggingface:{tiny_model}")
    prompt = [{"role": "user", "content": "Same prompt"}]
    a = model.generate([prompt, prompt], n=1, sampling=Sampling(max_new_tokens=8))
    assert a[0][0].text == a[1][0].text


def test_concurrent_requests_merge_into_one_generate(tiny_model, monkeypatch):
    """Requests that queue up while the model is busy are served by one batched generate."""
    import threading

    model = get_model(f"huggingface:{tiny_model}")
    sizes = []
    real = model.base.model.generate
    gate = threading.Event()

    def counting(*args, **kwargs):
        sizes.append(kwargs["input_ids"].shape[0] * kwargs["num_return_sequences"])
        gate.wait(5)  # hold the first batch until the other callers have queued
        return real(*args, **kwargs)

    monkeypatch.setattr(model.base.model, "generate", counting)
    sampling = Sampling(max_new_tokens=6)
    results = {}

    def ask(i):
        results[i] = model.generate([[{"role": "user", "content": f"question {i}"}]], n=2, sampling=sampling)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    threads[0].start()
    while not sizes:
        pass
    for t in threads[1:]:
        t.start()
    import time

    time.sleep(0.3)
    gate.set()
    for t in threads:
        t.join()
    assert sizes == [1, 3]  # the first alone, then the three that queued behind it together (greedy: n=2 decoded once)
    alone = model.generate([[{"role": "user", "content": "question 3"}]], n=2, sampling=sampling)
    assert results[3] and [g.text for g in results[3][0]] == [g.text for g in alone[0]]  # greedy: same answer


def test_k_samples_from_one_prefill_continue_exactly_where_k_prefills_would(tiny_model):
    """With greedy decoding both paths must give the same tokens, row for row, so the shared prefix
    (one prefill, the cache repeated k times) changes the cost of sampling, not what is sampled."""
    import torch

    from cowest.nodes.models.local import LocalBase

    base = LocalBase(tiny_model)
    tok = base.tokenizer
    prompts = [[{"role": "user", "content": "Short one?"}], [{"role": "user", "content": "A much longer prompt here?"}]]
    texts = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    assert enc["attention_mask"].min() == 0  # left padding is exercised
    greedy = dict(max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id, temperature=None, top_p=None)
    with torch.inference_mode():
        repeated = base.model.generate(**{k: v.repeat_interleave(3, 0) for k, v in enc.items()}, **greedy)
        shared = base.sample_from_shared_prefix(enc, 3, greedy)
    assert torch.equal(repeated, shared)


def test_weak_compile_on_a_cpu_warns_and_changes_nothing(tiny_model):
    """--weak-compile is for CUDA; on a CPU the model runs as it would without it."""
    import torch

    from cowest.graph import CollabContext
    from cowest.nodes.models.local import LocalBase

    ctx = CollabContext(weak=f"huggingface:{tiny_model}", weak_compile=True)
    assert ctx.request_policy_for(ctx.weak_spec).compiled and not ctx.request_policy_for(ctx.strong_spec).compiled
    with pytest.warns(UserWarning, match="CUDA"):
        compiled = LocalBase(tiny_model, compiled=True)
    plain = LocalBase(tiny_model)
    prompt = [[{"role": "user", "content": "Is fire hot?"}]]
    sampled = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=6)
    torch.manual_seed(3)
    a = compiled.run_batch(None, prompt, 3, sampled)
    torch.manual_seed(3)
    b = plain.run_batch(None, prompt, 3, sampled)
    assert not compiled.compiled and [g.text for g in a[0]] == [g.text for g in b[0]]
