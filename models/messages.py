"""Our messages and decoding settings in the shapes other APIs take: the OpenAI API's request
parameters, LangChain's message objects and results."""

from __future__ import annotations

from typing import Any

from .base import Messages, Reply, Sampling


def request_params(sampling: Sampling, n: int, seed: int | None = None) -> dict[str, Any]:
    """The decoding parameters of one request, in the OpenAI API's names."""
    params: dict[str, Any] = dict(temperature=sampling.temperature, max_completion_tokens=sampling.max_new_tokens)
    if not sampling.greedy:
        params["top_p"] = sampling.top_p
        if seed is not None:  # OpenAI's and vLLM's `seed`: best-effort reproducible sampling
            params["seed"] = seed
    if n > 1:
        params["n"] = n
    if sampling.logprobs:
        params["logprobs"] = True
    return params


def reply_of(result: Any) -> Reply:
    """A LangChain LLMResult of one prompt as a Reply."""
    gens = result.generations[0]
    usage = (getattr(getattr(gens[0], "message", None), "usage_metadata", None) or {}) if gens else {}
    return Reply([g.text or "" for g in gens], usage.get("input_tokens"), usage.get("output_tokens"))


def to_langchain(prompt: Messages):
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](content=m["content"]) for m in prompt]


def one_line(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300]
