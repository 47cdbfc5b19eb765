"""The SQL trace store: schema, idempotent writes, exports."""
from .schema import Adapter, Base, Call, EvalResult, Pair, Query, Run
from .export import export_pairs, export_traces, preference_rows, trace_rows
from .store import RunCounts, StoreError, TraceStore, call_key, get_store

__all__ = ["export_pairs", "export_traces", "preference_rows", "trace_rows", "Adapter", "Base", "Call", "EvalResult", "Pair", "Query", "Run", "RunCounts", "StoreError", "TraceStore", "call_key", "get_store"]
