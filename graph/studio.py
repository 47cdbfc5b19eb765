"""The graphs `langgraph.json` serves (LangGraph Studio, `langgraph dev`), compiled without a
checkpointer: the server brings its own persistence and refuses ours."""

from cowest.graph.builder import build_graph
from cowest.graph.context import CollectContext

collaborate = build_graph()  # infer mode: weak draft -> strong refinement
collect = build_graph(context_schema=CollectContext)  # Algorithm 1 for one query
