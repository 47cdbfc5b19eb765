"""The collaboration graph (builder.py: the only place edges are defined), how a node runs
(on_loop.py) and how a served caller's input is checked and resolved (serving.py, http_guard.py).
The state, context and modes the nodes work on live in nodes/; they are exported here, as the
graph's public face."""

from __future__ import annotations

from cowest.nodes.context import CollabContext, CollectContext
from cowest.nodes.modes import MODES, ModeSpec
from cowest.nodes.state import CollabInput, CollabState, PairOut, Step

from .builder import build_graph

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
