"""The weak model's memory stays bounded whatever the queries' lengths: a prompt past the model's
context window fails its call at once, and long prompts decode in fewer rows at a time."""

from __future__ import annotations

import pytest

from cowest.models import ModelCallError, Sampling
from cowest.models.registry import clear_models, get_model


@pytest.fixture
def base(tiny_model):
    clear_models()
    yield get_model(f"huggingface:{tiny_model}").base
    clear_models()


def _prompt(words: int) -> list:
    return [{"role": "user", "content": " ".join(["word"] * words)}]


def test_a_prompt_past_the_context_window_fails_its_call_and_no_other(base):
    context = base.model.config.max_position_embeddings
    too_long = base.batches.submit(None, [_prompt(context)], 1, Sampling(max_new_tokens=4))
    fine = base.batches.submit(None, [_prompt(5)], 1, Sampling(max_new_tokens=4))
    with pytest.raises(ModelCallError, match="past the model's context window"):
        too_long.result(timeout=5)
    assert len(fine.result(timeout=30)[0]) == 1


def test_long_prompts_decode_fewer_rows_at_a_time(base):
    rows_per_forward = []
    handle = base.model.register_forward_pre_hook(
        lambda module, args, kwargs: rows_per_forward.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    length = base.prompt_lengths([_prompt(300)])[0]
    base.batches.max_tokens = 2 * (length + 4)  # room for two such rows at once
    try:
        futures = [base.batches.submit(None, [_prompt(300)], 1, Sampling(max_new_tokens=4)) for _ in range(6)]
        assert all(len(f.result(timeout=60)[0]) == 1 for f in futures)
    finally:
        handle.remove()
    assert max(rows_per_forward) == 2  # six requests waited together; two rows decoded at a time
