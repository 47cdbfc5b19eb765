"""The collaboration graph, its state and its run context."""
from .builder import build_graph
from .context import CollabContext, CollectContext
from .state import CollabInput, CollabState, PairOut, Step

__all__ = ["CollectContext", "CollabContext", "CollabInput", "CollabState", "PairOut", "Step", "build_graph"]
