"""The chat model view of a local transformers model: one LocalBase (local.py) with one adapter."""

from __future__ import annotations

import asyncio

from .base import (
    GREEDY,
    Generation,
    Messages,
    ModelCallError,
    Outcome,
    Sampling,
    Seeds,
    agenerate_each,
    generate_each,
)
from .local import LocalBase
from .spec import ModelSpec


class LocalChatModel:
    """A view of a LocalBase with one adapter (or none)."""

    def __init__(self, base: LocalBase, spec: ModelSpec):
        self.base = base
        self.adapter = spec.adapter
        self.spec = str(spec)

    def answer_confidence(self, prompt: Messages, completion: str, answer: str) -> float | None:
        """P(answer tokens | prompt, the completion before them): the model's confidence in the
        answer it wrote (SuperICL). None when the answer is not found in the completion."""
        import torch

        at = completion.rfind(answer)
        if not answer or at < 0:
            return None
        tok = self.base.tokenizer
        head = str(tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False))
        text = head + completion
        span = (len(head) + at, len(head) + at + len(answer))
        enc = tok(text, return_offsets_mapping=True, add_special_tokens=False, return_tensors="pt")
        offsets = enc.pop("offset_mapping")[0].tolist()
        positions = [i for i, (a, b) in enumerate(offsets) if b > span[0] and a < span[1] and i > 0]
        if not positions:
            return None
        with self.base.lock, self.base.activate(self.adapter), torch.inference_mode():
            logits = self.base.model(**enc.to(self.base.device)).logits[0].float()
        logp = torch.log_softmax(logits[:-1], dim=-1)
        ids = enc["input_ids"][0]
        total = sum(logp[i - 1, ids[i]].item() for i in positions)
        return float(torch.exp(torch.tensor(total)))

    def generate_each(
        self, prompts: list[Messages], counts: list[int], sampling: Sampling, seeds: Seeds = None
    ) -> list[Outcome]:
        return generate_each(self, prompts, counts, sampling, seeds)

    async def agenerate_each(
        self, prompts: list[Messages], counts: list[int], sampling: Sampling, seeds: Seeds = None
    ) -> list[Outcome]:
        return await agenerate_each(self, prompts, counts, sampling, seeds)

    def generate(
        self, prompts: list[Messages], n: int = 1, sampling: Sampling = GREEDY, seeds: Seeds = None
    ) -> list[list[Generation]]:
        try:
            return self.base.batches.generate(self.adapter, prompts, n, sampling, seeds)
        except ModelCallError as exc:
            raise self._failed(exc) from exc

    async def agenerate(
        self, prompts: list[Messages], n: int = 1, sampling: Sampling = GREEDY, seeds: Seeds = None
    ) -> list[list[Generation]]:
        """`generate`, awaited: the batch server's thread decodes and no thread waits for it."""
        try:
            return await asyncio.wrap_future(self.base.batches.submit(self.adapter, prompts, n, sampling, seeds))
        except ModelCallError as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: Exception) -> ModelCallError:
        """The batch server's failure (any exception of the model's, as one line), naming the model."""
        return ModelCallError(f"{self.spec}: {exc}")
