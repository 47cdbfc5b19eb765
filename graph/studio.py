"""The graphs `langgraph.json` serves (LangGraph Studio, `langgraph dev`, LangGraph Server),
compiled without a checkpointer (the server brings its own persistence and refuses ours). A caller
of the API chooses only what graph/serving.py's CallerContext allows; the models, endpoints, keys,
store, adapters and caps are the operator's ($COWEST_SERVER_SETTINGS, the environment)."""

from cowest.graph.builder import build_graph
from cowest.graph.serving import CallerContext, CollectCallerContext

collaborate = build_graph(context_schema=CallerContext)  # infer mode: weak draft -> strong refinement
collect = build_graph(context_schema=CollectCallerContext)  # Algorithm 1 for one query
