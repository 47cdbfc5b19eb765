"""The collaboration graph, its state, its run context and its modes.

`build_graph` is loaded on first use: the nodes import the context and state from here, and the
builder imports the nodes."""

from __future__ import annotations

from typing import Any

from .context import CollabContext, CollectContext
from .modes import MODES, ModeSpec
from .state import CollabInput, CollabState, PairOut, Step

__all__ = [
    "MODES",
    "CollabContext",
    "CollabInput",
    "CollabState",
    "CollectContext",
    "ModeSpec",
    "PairOut",
    "Step",
    "build_graph",
]


def __getattr__(name: str) -> Any:
    if name == "build_graph":
        from .builder import build_graph

        return build_graph
    raise AttributeError(f"module 'cowest.graph' has no attribute {name!r}")
