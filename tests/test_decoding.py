"""The hand-written decoding (models/decoding.py): one prefill for K samples, rows that
leave when they finish and rows that join, token choice as transformers makes it."""

import pytest

from cowest.models import Sampling


def encoded(base, contents):
    tok = base.tokenizer
    texts = [
        tok.apply_chat_template([{"role": "user", "content": c}], add_generation_prompt=True, tokenize=False)
        for c in contents
    ]
    return tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)


@pytest.mark.parametrize("penalty", [1.0, 1.1])
def test_k_continuations_of_one_prefill_are_what_generate_gives_k_prefills(tiny_model, penalty):
    """Greedy, the hand-written decoding (one prefill, the cache repeated k times) gives the tokens
    transformers' generate gives the k-times repeated prompts, row for row: it changes the cost of
    sampling, not what is sampled."""
    import torch

    from cowest.models.decoding import decode
    from cowest.models.local import LocalBase, _until_stop

    base = LocalBase(tiny_model)
    enc = encoded(base, ["Short one?", "A much longer prompt here?"])
    assert enc["attention_mask"].min() == 0  # left padding is exercised
    sampling = Sampling(max_new_tokens=8, repetition_penalty=penalty)
    greedy = dict(
        max_new_tokens=8, do_sample=False, pad_token_id=base.tokenizer.pad_token_id, repetition_penalty=penalty
    )
    with torch.inference_mode():
        repeated = base.model.generate(**{k: v.repeat_interleave(3, 0) for k, v in enc.items()}, **greedy)
        ours = decode(base.model, enc["input_ids"], enc["attention_mask"], 3, sampling, base.stop_ids)
    prompt_len = enc["input_ids"].shape[1]
    assert ours == [_until_stop(row, base.stop_ids) for row in repeated[:, prompt_len:].tolist()]


def test_a_finished_row_leaves_the_batch_and_the_others_go_on_unchanged(tiny_model, monkeypatch):
    import torch

    from cowest.models.decoding import decode
    from cowest.models.local import LocalBase

    base = LocalBase(tiny_model)
    torch.manual_seed(0)
    with torch.no_grad():  # louder weights than the tiny model's: rows that differ token by token
        for weights in base.model.parameters():
            weights.normal_(0, 0.5)
    enc = encoded(base, ["Short one?", "A much longer prompt here?", "Third?"])
    sampling = Sampling(max_new_tokens=8)
    with torch.inference_mode():
        full = decode(base.model, enc["input_ids"], enc["attention_mask"], 1, sampling, {-1})  # nothing stops
        stop = full[1][2]  # row 1's third token now ends it
        assert stop not in full[0] + full[2] + full[1][:2]
        shapes = []
        hook = base.model.register_forward_pre_hook(
            lambda _m, _a, kw: shapes.append(kw["input_ids"].shape[0]), with_kwargs=True
        )
        try:
            stopped = decode(base.model, enc["input_ids"], enc["attention_mask"], 1, sampling, {stop})
        finally:
            hook.remove()
    assert stopped == [full[0], full[1][:3], full[2]]
    assert shapes == [3, 3, 3, 3, 2, 2, 2, 2, 2]  # prefill, 3 steps of 3 rows, then 5 of the 2 left


def test_top_p_and_the_repetition_penalty_keep_what_transformers_keeps():
    import torch
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor, TopPLogitsWarper

    from cowest.models.decoding import penalize_repeats, top_p_candidates

    torch.manual_seed(0)
    for scale in (0.2, 1.0, 4.0, 12.0):  # flat rows (past the top candidates, and the next) to peaked ones
        logits = torch.randn(6, 20000) * scale
        for top_p in (0.5, 0.9, 0.99):
            theirs = TopPLogitsWarper(top_p)(None, logits.clone()) > float("-inf")
            ours = torch.zeros_like(theirs)
            for rows, ids, kept_mass in top_p_candidates(torch.softmax(logits, dim=-1), top_p):
                ours[rows] = ours[rows].scatter(1, ids, kept_mass > 0)
            # Equal but where float32 sums taken in another order round either side of top_p.
            mass = torch.softmax(logits.double(), dim=-1)
            for row, token in (ours != theirs).nonzero().tolist():
                above = mass[row][mass[row] > mass[row, token]].sum()  # the probability ranked above it
                assert abs(above - top_p) < 1e-5, (scale, top_p)
            assert ((ours != theirs).sum(dim=1) <= 1).all()  # the boundary token at most
    seen = torch.randint(0, 3000, (6, 40))
    assert torch.equal(penalize_repeats(logits, seen, 1.3), RepetitionPenaltyLogitsProcessor(1.3)(seen, logits.clone()))


def test_a_draw_follows_the_weights_and_never_picks_a_weight_of_zero():
    import torch

    from cowest.models.decoding import draw

    torch.manual_seed(0)
    weights = torch.tensor([[0.0, 1.0, 0.0, 3.0], [2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0], [0.1, 0.2, 0.3, 0.4]])
    counts = torch.zeros_like(weights)
    for _ in range(4000):
        counts[torch.arange(4), draw(weights)] += 1
    assert torch.equal(counts[weights == 0], torch.zeros(int((weights == 0).sum())))
    share = counts / counts.sum(dim=1, keepdim=True)
    expected = weights / weights.sum(dim=1, keepdim=True)
    assert (share - expected).abs().max() < 0.03  # 4000 draws: a few standard errors (<= 0.008)


@pytest.mark.parametrize("penalty", [1.0, 1.1])
def test_prompts_that_join_the_rows_decoding_get_what_they_get_alone(tiny_model, penalty):
    """Continuous batching: prompts added after some steps (shorter and longer ones than those
    decoding) join the running rows; greedy, every row's tokens are those it gets decoded alone,
    and the rows already decoding go on unchanged."""
    import torch

    from cowest.models.decoding import Decoding, decode
    from cowest.models.local import LocalBase

    base = LocalBase(tiny_model)
    torch.manual_seed(0)
    with torch.no_grad():  # louder weights than the tiny model's: rows that differ token by token
        for weights in base.model.parameters():
            weights.normal_(0, 0.5)
    first = encoded(base, ["A prompt of middling length?", "Short?"])
    later = [encoded(base, ["Hi?"]), encoded(base, ["A much, much longer prompt than any of the first ones?", "x"])]
    sampling = Sampling(max_new_tokens=8, repetition_penalty=penalty)
    with torch.inference_mode():
        alone = [decode(base.model, e["input_ids"], e["attention_mask"], 2, sampling, {-1}) for e in [first, *later]]
        batch = Decoding(base.model, sampling, {-1})
        slots = [batch.add(first["input_ids"], first["attention_mask"], 2)]
        for enc in later:
            for _ in range(3):
                batch.step()
            slots.append(batch.add(enc["input_ids"], enc["attention_mask"], 2))
            assert batch.rows == sum(len(s) for s in slots)  # none has its 8 tokens yet
        while batch.rows:
            batch.step()
    assert [[batch.out[i] for i in s] for s in slots] == alone
    assert all(batch.done)


def test_a_seeded_row_samples_the_same_tokens_whatever_decodes_beside_it(tiny_model):
    """--seed: a row with a seed draws from its own random stream, so its sample is the same decoded
    alone, beside other rows, or joining rows already decoding; another seed draws another one."""
    import torch

    from cowest.models.decoding import Decoding, decode
    from cowest.models.local import LocalBase

    base = LocalBase(tiny_model)
    torch.manual_seed(0)
    with torch.no_grad():  # louder weights: samples that differ token by token
        for weights in base.model.parameters():
            weights.normal_(0, 0.5)
    mine, other = encoded(base, ["The prompt under test?"]), encoded(base, ["Another, longer prompt beside it?", "x"])
    sampling = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=10)
    with torch.inference_mode():
        alone = decode(base.model, mine["input_ids"], mine["attention_mask"], 2, sampling, {-1}, [11, 12])
        again = decode(base.model, mine["input_ids"], mine["attention_mask"], 2, sampling, {-1}, [11, 12])
        reseeded = decode(base.model, mine["input_ids"], mine["attention_mask"], 2, sampling, {-1}, [13, 14])
        batch = Decoding(base.model, sampling, {-1})
        batch.add(other["input_ids"], other["attention_mask"], 2)  # unseeded rows: torch's global stream
        for _ in range(3):
            batch.step()
        joined = batch.add(mine["input_ids"], mine["attention_mask"], 2, [11, 12])
        while batch.rows:
            batch.step()
    assert alone == again == [batch.out[i] for i in joined]
    assert alone != reseeded and alone[0] != alone[1]


def test_a_short_request_joins_a_long_one_and_finishes_first(tiny_model):
    """Fairness: each request keeps its own length budget, so an 8-token request that arrives while
    a 400-token one decodes joins it at the next step and is answered long before that one ends,
    with the tokens it gets alone (greedy)."""
    import time

    from cowest.models.local import LocalBase

    base = LocalBase(tiny_model)
    base.stop_ids = {-1}  # no early stop: the long request really runs its 400 tokens
    prompt = [[{"role": "user", "content": "Short question?"}]]
    short = Sampling(max_new_tokens=8, repetition_penalty=1.1)
    alone = base.batches.generate(None, prompt, 1, short)
    long_sampling = Sampling(max_new_tokens=400, repetition_penalty=1.1)
    long = base.batches.submit(None, [[{"role": "user", "content": "Long one?"}]], 1, long_sampling)
    while not base.lock.locked():  # the long request is decoding
        time.sleep(0.001)
    quick = base.batches.submit(None, prompt, 1, short)
    assert [g.text for g in quick.result(timeout=60)[0]] == [g.text for g in alone[0]]
    assert not long.done()  # the short one did not wait for the long one to end
    assert long.result(timeout=120)[0][0].tokens_out == 400


def test_token_logprobs_are_the_models_own_on_the_decoded_sequence(tiny_model):
    """With `logprobs`, each new token's log probability is the one a forward pass over the prompt and
    the tokens before it gives (left padding and the batch beside it change nothing)."""
    import torch

    from cowest.models.decoding import decoded
    from cowest.models.local import LocalBase

    base = LocalBase(tiny_model)
    enc = encoded(base, ["Short one?", "A much longer prompt here?"])
    sampling = Sampling(max_new_tokens=6, repetition_penalty=1.1, logprobs=True)
    with torch.inference_mode():
        batch = decoded(base.model, enc["input_ids"], enc["attention_mask"], 1, sampling, {-1})
        for row, (ids, mask) in enumerate(zip(enc["input_ids"], enc["attention_mask"])):
            prompt = ids[mask.bool()]  # the row without its padding
            full = torch.cat([prompt, torch.tensor(batch.out[row])])[None]
            scores = torch.log_softmax(base.model(input_ids=full).logits[0].float(), dim=-1)
            expected = [scores[len(prompt) - 1 + i, t].item() for i, t in enumerate(batch.out[row])]
            assert batch.logprobs[row] == pytest.approx(expected, abs=1e-4)
    plain = decoded(base.model, enc["input_ids"], enc["attention_mask"], 1, Sampling(max_new_tokens=6), {-1})
    assert plain.logprobs == [[], []]  # not asked: not computed


def test_a_local_models_generations_carry_their_tokens_log_probabilities_when_asked(tiny_model):
    from cowest.models import get_model

    model = get_model(f"huggingface:{tiny_model}")
    prompts = [[{"role": "user", "content": c}] for c in ("Hello there?", "Name a city.")]
    for gens in model.generate(prompts, sampling=Sampling(max_new_tokens=5, logprobs=True)):
        pieces = gens[0].logprobs
        assert len(pieces) == gens[0].tokens_out and all(lp <= 0 for _, lp in pieces)
        assert "".join(t for t, _ in pieces).strip() == gens[0].text  # the pieces are the text, token by token
    assert all(g[0].logprobs is None for g in model.generate(prompts, sampling=Sampling(max_new_tokens=5)))
