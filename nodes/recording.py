"""Where a node looks up and records its calls for one query: the store when the run has one."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from cowest.graph.state import CollabState, Step
from cowest.nodes.models.base import DEFAULT_POLICY, RequestPolicy
from cowest.storage import Call, TraceStore, call_key, get_store

_query_pks: dict[tuple[str, str, str], tuple[int, int]] = {}
_pk_lock = threading.Lock()


def query_id_of(state: CollabState) -> str:
    """The query's own id, or a stable hash of its text when the caller gave none."""
    return state.get("query_id") or "q" + hashlib.sha1(state["query"].encode()).hexdigest()[:12]


class CallLog:
    """Idempotent lookups and writes of one query's calls; does nothing when `store` is None."""

    def __init__(
        self,
        store: TraceStore | None,
        run: str,
        round: int,
        run_id: int | None,
        query_pk: int | None,
        qid: str,
        retry_failed: bool = False,
        policy: RequestPolicy = DEFAULT_POLICY,
    ):
        self.store, self.run, self.round = store, run, round
        self.run_id, self.query_pk, self.qid = run_id, query_pk, qid
        self.retry_failed = retry_failed
        self.policy = policy  # how this run's remote requests are sent

    @classmethod
    def open(cls, state: CollabState, ctx) -> CallLog:
        qid = query_id_of(state)
        if not ctx.db:
            return cls(None, ctx.run, ctx.round, None, None, qid, policy=ctx.request_policy)
        store = get_store(ctx.db)
        cache_key = (ctx.db, ctx.run, qid)
        with _pk_lock:
            ids = _query_pks.get(cache_key)
        if ids is None:
            run_id = store.ensure_run(ctx.run, ctx.task, config={"source": "graph"})
            query_pk = store.ensure_query(run_id, qid, state["query"], state.get("gold"))
            ids = (run_id, query_pk)
            with _pk_lock:
                _query_pks[cache_key] = ids
        return cls(store, ctx.run, ctx.round, ids[0], ids[1], qid, ctx.retry_failed, ctx.request_policy)

    def key(self, role: str, index: int, *identity: Any, per_round: bool = True) -> str:
        """The call's idempotency key. Calls that do not depend on the weak model (the strong solo
        answer and its judgment) are keyed without the round, so later rounds reuse them."""
        return call_key(self.run, self.round if per_round else "*", self.qid, role, index, *identity)

    def lookup(self, keys: list[str]) -> dict[str, Call]:
        """Stored calls that count as done (failures too, unless retry_failed)."""
        if self.store is None:
            return {}
        found = self.store.find_calls(keys)
        if self.retry_failed:
            found = {k: c for k, c in found.items() if c.error is None}
        return found

    def record(self, key: str, **fields: Any) -> Call | None:
        """Store the call; returns the row that stands under `key`, which may be another writer's
        (go on with its text and answer, never with the discarded output)."""
        if self.store is None:
            return None
        return self.store.save_call(
            Call(key=key, run_id=self.run_id, round=self.round, query_id=self.query_pk, **fields)
        )


def step_from_call(index: int, call: Call) -> Step:
    return Step(index=index, call_id=call.id, text=call.output, answer=call.answer, score=call.score, error=call.error)
