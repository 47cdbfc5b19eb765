"""cowest: weak-strong model collaboration (CoWeSt).

    from cowest import build_graph, CollabContext
    graph = build_graph()
    graph.invoke({"query": "..."}, context=CollabContext(weak="smollm2", strong="openai:gpt-4o"))
"""
from cowest.graph import CollabContext, CollabState, build_graph
from cowest.settings import Settings

__version__ = "0.1.0"
__all__ = ["CollabContext", "CollabState", "Settings", "build_graph", "__version__"]
