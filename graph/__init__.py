"""The collaboration graph, its state and its run context."""
from .builder import build_graph
from .context import CollabContext
from .state import CollabInput, CollabState, PairOut, Step

__all__ = ["CollabContext", "CollabInput", "CollabState", "PairOut", "Step", "build_graph"]
