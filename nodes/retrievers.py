"""Retrievers for the RAG baselines (SKR, FLARE): any LangChain `BaseRetriever`, registered under a
name, and the BM25 one `--corpus FILE.jsonl` builds (bm25s).

A retrieval is stored and reused like a model call: the registered retriever stands behind the model
interface as `retriever:NAME` (cowest.models.retrievers; its output is the passages as JSON), so the
store, resume, reuse across runs and dry runs treat it as every other call. The name is what
identifies the retriever in the store: give another retriever (another corpus, another k) another
name. The BM25 retriever's name carries its corpus's content hash and k.

    from cowest.models.retrievers import register_retriever
    register_retriever("my-vectors", vector_store.as_retriever(search_kwargs={"k": 3}))
    graph.invoke({"query": ...}, context=CollabContext(mode="skr", retriever="my-vectors"))
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from cowest.core import BadInput
from cowest.models.retrievers import register_retriever, registered
from cowest.tasks.base import read_json_rows

__all__ = [
    "BM25Retriever",
    "CorpusError",
    "corpus_retriever",
    "passages_of",
    "read_corpus",
    "register_retriever",
    "registered",
]

_lock = threading.Lock()
_corpora: dict[tuple[str, int], str] = {}  # (corpus digest, k) -> the name its retriever is registered under


class CorpusError(BadInput):
    """A corpus file that cannot be used; the message names the file (and line)."""


class BM25Retriever(BaseRetriever):
    """Okapi BM25 over passages (bm25s; English stop words), the `k` best with a score above 0."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    k: int = 3
    _index: Any = PrivateAttr(default=None)
    _passages: list[tuple[str, str]] = PrivateAttr(default_factory=list)

    @classmethod
    def from_passages(cls, passages: list[tuple[str, str]], k: int = 3) -> BM25Retriever:
        import bm25s

        retriever = cls(k=k)
        retriever._passages = passages
        retriever._index = bm25s.BM25()
        tokens = bm25s.tokenize([text for _, text in passages], stopwords="en", show_progress=False)
        retriever._index.index(tokens, show_progress=False)
        return retriever

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        import bm25s

        words = bm25s.tokenize([query], stopwords="en", show_progress=False, return_ids=False)
        if not words[0] or not self._passages:
            return []
        k = min(self.k, len(self._passages))
        found, scores = self._index.retrieve(words, k=k, show_progress=False, n_threads=1)
        return [
            Document(page_content=self._passages[int(i)][1], id=self._passages[int(i)][0], metadata={"score": float(s)})
            for i, s in zip(found[0], scores[0])
            if s > 0
        ]


def read_corpus(path: str) -> list[tuple[str, str]]:
    """(id, text) per row of a JSON Lines (or JSON array) file of `{"id": ..., "text": ...}`;
    BadInput naming the file and line of the first bad one."""
    if not Path(path).is_file():
        raise CorpusError(f"--corpus {path}: no such file")
    passages: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line, row in read_json_rows(Path(path)):
        if not str(row.get("text") or "").strip():
            raise CorpusError(f'{path}:{line}: a passage is {{"id": ..., "text": ...}} with some text')
        pid = str(row.get("id", line - 1))
        if pid in seen:
            raise CorpusError(f"{path}:{line}: passage id {pid!r} appears twice")
        seen.add(pid)
        passages.append((pid, str(row["text"]).strip()))
    if not passages:
        raise CorpusError(f"--corpus {path}: no passages")
    return passages


def corpus_retriever(path: str, k: int = 3) -> str:
    """The name of a BM25 retriever over the corpus file, built and registered once per content."""
    if k < 1:
        raise BadInput(f"--top-k must be at least 1 (got {k})")
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else ""
    with _lock:
        name = _corpora.get((digest, k))
    if name is None:
        passages = read_corpus(path)
        name = register_retriever(f"bm25-k{k}-{digest[:12]}", BM25Retriever.from_passages(passages, k))
        with _lock:
            _corpora[(digest, k)] = name
    return name


def passages_of(text: str | None) -> list[dict[str, str]]:
    """The passages a stored retrieval holds (its output)."""
    try:
        found = json.loads(text or "[]")
    except json.JSONDecodeError:
        return []
    return [p for p in found if isinstance(p, dict) and "text" in p] if isinstance(found, list) else []
