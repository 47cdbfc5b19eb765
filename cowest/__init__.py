"""cowest: weak-strong model collaboration (CoWeSt).

    from cowest import build_graph, CollabContext
    graph = build_graph()
    graph.invoke({"query": "..."}, context=CollabContext(weak="smollm2", strong="openai:gpt-4o"))

    # the trained weak model in any LangChain app
    llm = cowest.chat_model("smollm2@adapters/RUN/round-2")

Names are loaded on first use (PEP 562), so `import cowest` and the CLI's help start at once.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CollabContext": "cowest.graph",
    "CollabState": "cowest.graph",
    "build_graph": "cowest.graph",
    "ModelSettings": "cowest.models",
    "CowestError": "cowest.core",
    "chat_model": "cowest.models.chat_model",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one literal, in core/, where models/http.py reads it too
        return importlib.import_module("cowest.core.versions").VERSION
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cowest' has no attribute {name!r}")
