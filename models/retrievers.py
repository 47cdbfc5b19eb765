"""A registered retriever behind the model interface, `retriever:NAME`: the last message is the
search query, the one output the passages found, as JSON, so the call layer stores, reuses and
budgets a retrieval like any other call. The retrievers themselves (BM25 over a corpus file) are
cowest.nodes.retrievers.

    from cowest.models.retrievers import register_retriever
    register_retriever("my-vectors", vector_store.as_retriever(search_kwargs={"k": 3}))
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from cowest.core import BadInput

from .base import GREEDY, Generation, Messages, ModelCallError, Outcome, Sampling, Seeds

if TYPE_CHECKING:  # LangChain loads with the first retriever, not with cowest.models
    from langchain_core.retrievers import BaseRetriever

_lock = threading.Lock()
_registered: dict[str, BaseRetriever] = {}


def register_retriever(name: str, retriever: BaseRetriever) -> str:
    """Make `retriever` the one `CollabContext(retriever=name)` retrieves with; returns `name`."""
    if not name or any(c in name for c in " @:/"):
        raise BadInput(f"retriever name {name!r}: a short name without spaces, '@', ':' or '/'")
    with _lock:
        _registered[name] = retriever
    return name


def registered(name: str) -> BaseRetriever:
    with _lock:
        retriever = _registered.get(name)
    if retriever is None:
        raise BadInput(f"no retriever named {name!r}; pass --corpus FILE.jsonl, or register_retriever() one")
    return retriever


class RetrieverModel:
    """A registered retriever behind the model interface: the last message is the search query, the
    one output the passages found, as JSON (`[{"id", "text"}, ...]`)."""

    def __init__(self, name: str):
        self.spec = f"retriever:{name}"
        self.retriever = registered(name)

    def generate(
        self, prompts: list[Messages], n: int = 1, sampling: Sampling = GREEDY, seeds: Seeds = None
    ) -> list[list[Generation]]:
        return [[self._search(prompt)] * n for prompt in prompts]

    def generate_each(
        self, prompts: list[Messages], counts: list[int], sampling: Sampling, seeds: Seeds = None
    ) -> list[Outcome]:
        out: list[Outcome] = []
        for prompt, count in zip(prompts, counts):
            try:
                out.append([self._search(prompt)] * count)
            except Exception as exc:  # a retriever's own failure fails its query's retrieval only
                out.append([ModelCallError(f"{self.spec}: {type(exc).__name__}: {exc}")] * count)
        return out

    def _search(self, prompt: Messages) -> Generation:
        docs = self.retriever.invoke(prompt[-1]["content"])
        found = [{"id": str(d.id if d.id is not None else i), "text": d.page_content} for i, d in enumerate(docs)]
        return Generation(text=json.dumps(found, ensure_ascii=False))
