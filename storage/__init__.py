"""The SQL trace store: schema, idempotent writes, exports."""

from .database import DEFAULT_URL, StoreError, default_url
from .export import example_rows, export_examples, export_pairs, export_traces, preference_rows, trace_rows
from .reads import RunCounts
from .schema import Adapter, Base, Call, EvalResult, Example, Pair, Query, Run
from .store import TraceStore, get_store

__all__ = [
    "DEFAULT_URL",
    "default_url",
    "example_rows",
    "export_examples",
    "export_pairs",
    "export_traces",
    "preference_rows",
    "trace_rows",
    "Adapter",
    "Base",
    "Call",
    "EvalResult",
    "Example",
    "Pair",
    "Query",
    "Run",
    "RunCounts",
    "StoreError",
    "TraceStore",
    "get_store",
]
