"""Where a node looks up and records its calls for one query: the store when the run has one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cowest.models.base import DEFAULT_POLICY, Messages, RequestPolicy, Sampling
from cowest.models.identity import decoding, model_identity
from cowest.models.spec import ModelSpec
from cowest.storage import TraceStore, get_store
from cowest.storage.keys import content_key, row_key, stable_key
from cowest.storage.rows import StoredCall

from .ledger import current_plan
from .state import CollabState, Step


@dataclass
class Job:
    """A model call to make, as a node asks for it (see CallLog.job)."""

    index: int  # sample index of the output this call produces
    key: str  # row key: this call in this run's trace
    content: str  # content key: what determines the output, shared by every run
    messages: Messages
    parent_id: int | None = None
    seed: int | None = None  # a sampled call's own seed (--seed): the same sample every time


def query_id_of(state: CollabState) -> str:
    """The query's own id, or a stable hash of its text when the caller gave none."""
    return state.get("query_id") or "q" + hashlib.sha1(state["query"].encode()).hexdigest()[:12]


class CallLog:
    """Idempotent lookups and writes of one query's calls; does nothing when `store` is None, and
    writes nothing in a dry run (`cowest plan`)."""

    def __init__(
        self,
        store: TraceStore | None,
        run: str,
        round: int,
        run_id: int | None,
        query_pk: int | None,
        qid: str,
        retry_failed: bool = False,
        policy_for: Callable[[ModelSpec], RequestPolicy] = lambda spec: DEFAULT_POLICY,
        cache: bool = True,
        seed: int | None = None,
    ):
        self.store, self.run, self.round = store, run, round
        self.seed = seed  # the run's --seed: each sampled call draws from a stream of its own identity
        self.run_id, self.query_pk, self.qid = run_id, query_pk, qid
        self.retry_failed = retry_failed
        self.policy_for = policy_for  # how this run's remote requests to a model are sent
        self.cache = cache  # reuse calls other runs made (False: --no-cache)
        self.writable = store is not None and current_plan() is None
        self._keyed: dict[tuple[ModelSpec, Sampling], tuple[dict, dict]] = {}  # a node step's jobs share these
        self._identities: dict[ModelSpec, dict] = {}

    def identity(self, spec: ModelSpec) -> dict:
        """`spec`'s model identity (a local adapter's content hash reads its files: see `open`)."""
        if spec not in self._identities:
            self._identities[spec] = model_identity(spec, endpoint=self.policy_for(spec).base_url)
        return self._identities[spec]

    @classmethod
    def open(cls, state: CollabState, ctx) -> CallLog:
        """The call log of this query's run. Opened as store work (a worker thread under a foreign
        event loop), it also reads the identities of the run's adapters there: an adapter's content
        hash reads its files, which an async node must not do on the loop (LangGraph's server refuses
        it). Other identities read no file and are made when first asked for."""
        log = cls._open(state, ctx)
        for spec in {ctx.weak_spec, ctx.strong_spec, ctx.judge_spec}:
            if spec.adapter:
                log.identity(spec)
        return log

    @classmethod
    def _open(cls, state: CollabState, ctx) -> CallLog:
        qid = query_id_of(state)
        if not ctx.db:
            return cls(
                None, ctx.run, ctx.round, None, None, qid, policy_for=ctx.request_policy_for, cache=False, seed=ctx.seed
            )
        store = get_store(ctx.db)
        if current_plan() is not None:  # a dry run reads the store and writes nothing, not even the run
            return cls(
                store,
                ctx.run,
                ctx.round,
                None,
                None,
                qid,
                ctx.retry_failed,
                ctx.request_policy_for,
                ctx.cache,
                ctx.seed,
            )
        stored = state.get("stored")  # a job's: the rows it has just written
        if stored is not None:
            ids = (stored["run_id"], stored["query_pk"])
        else:  # a caller of the graph's own (an app, Studio): the run and query by name
            run_id = store.ensure_run(ctx.run, ctx.task, config={"source": "graph"})
            ids = (run_id, store.ensure_query(run_id, qid, state["query"], state.get("gold")))
        return cls(
            store,
            ctx.run,
            ctx.round,
            ids[0],
            ids[1],
            qid,
            ctx.retry_failed,
            ctx.request_policy_for,
            ctx.cache,
            ctx.seed,
        )

    def job(
        self,
        role: str,
        index: int,
        spec: ModelSpec,
        sampling: Sampling,
        messages: Messages,
        parent_id: int | None = None,
        every_round: bool = False,
    ) -> Job:
        """A model call to make: its row key in this run and its content key (storage/keys.py). A
        sampled call carries its sample identity, so K samples stay distinct and a new run draws
        new ones. `every_round`: a call that does not depend on the weak model (the solo answer and
        its judgment), keyed without the round so later rounds find it in their own run."""
        sample = None if sampling.greedy else {"run": self.run, "round": self.round, "query": self.qid, "index": index}
        if (spec, sampling) not in self._keyed:
            self._keyed[(spec, sampling)] = self.identity(spec), decoding(sampling, spec)
        identity, settings = self._keyed[(spec, sampling)]
        content = content_key(identity, messages, settings, sample)
        seed = None if sample is None or self.seed is None else sample_seed(self.seed, sample)
        return Job(index, self.key(role, index, content, every_round), content, messages, parent_id, seed)

    def key(self, role: str, index: int, content: str, every_round: bool = False) -> str:
        """The row key of a call with this content in this run's trace."""
        return row_key(self.run, None if every_round else self.round, self.qid, role, index, content)

    def lookup(self, keys: list[str]) -> dict[str, StoredCall]:
        """This run's stored calls that count as done (failures too, unless retry_failed)."""
        if self.store is None:
            return {}
        found: dict[str, StoredCall] = dict(self.store.find_calls(keys))
        if self.retry_failed:
            found = {k: c for k, c in found.items() if c.error is None}
        return found

    @property
    def shares_flights(self) -> bool:
        """Whether an identical request another query has in flight is waited for and copied
        (nodes/in_flight.py): with a store to copy into, as the store's content reuse."""
        return self.writable and self.cache

    @property
    def db(self) -> str | None:
        return self.store.url if self.store is not None else None

    def find(self, jobs: list[Job]) -> tuple[dict[str, StoredCall], dict[str, StoredCall]]:
        """`lookup` of the jobs' row keys and `cached` of their contents, in one query."""
        if self.store is None:
            return {}, {}
        contents = [j.content for j in jobs] if self.cache else []
        own, cached = self.store.find_for_jobs([j.key for j in jobs], contents)
        if self.retry_failed:
            own = {k: c for k, c in own.items() if c.error is None}
        return own, cached

    def record_many(self, rows: list[dict[str, Any]]) -> list[StoredCall | None]:
        """Store the calls of one node step in one transaction (see `record`)."""
        if not self.writable or self.store is None or not rows:
            return [None] * len(rows)
        ours = dict(run_id=self.run_id, round=self.round, query_id=self.query_pk)
        return list(self.store.save_calls([{**ours, **fields} for fields in rows]))

    def record(self, key: str, **fields: Any) -> StoredCall | None:
        """Store the call; returns the row that stands under `key`, which may be another writer's
        (go on with its text and answer, never with the discarded output)."""
        return self.record_many([{"key": key, **fields}])[0]


def sample_seed(seed: int, sample: dict[str, Any]) -> int:
    """The seed of one sampled call: a hash of the run's seed and the sample's identity (run, round,
    query, index), so a rerun into a fresh store draws the same sample, and no two samples share one."""
    return int(stable_key(seed=seed, sample=sample)[:15], 16)


def step_from_call(index: int, call: StoredCall) -> Step:
    step = Step(index=index, call_id=call.id, text=call.output, answer=call.answer, score=call.score, error=call.error)
    if call.logprobs:  # asked for (FLARE): the step decides on them
        step["logprobs"] = call.logprobs
    return step
