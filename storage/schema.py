"""The SQL schema: runs, queries, every model call, preference pairs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


# Alembic's own table, declared here so that a new store is created already at the latest
# revision (storage/migrate.py).
alembic_version = Table("alembic_version", Base.metadata, Column("version_num", String(32), primary_key=True))


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(50))
    data_path: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict] = mapped_column(JSON, default=dict)  # flags of the run; never a secret
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Query(Base):
    __tablename__ = "queries"
    __table_args__ = (UniqueConstraint("run_id", "qid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    qid: Mapped[str] = mapped_column(String(200))  # the data's own id
    line: Mapped[int | None] = mapped_column(Integer)
    query: Mapped[str] = mapped_column(Text)  # the framed text the models saw
    gold: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)  # set when the query's graph run failed


class Call(Base):
    """One model call (or one exact-match judgment) of one run. `key` (the row key) makes every write
    idempotent; `content_key` says what determined the output (storage/keys.py), so a call another
    run already made is reused: its row here points to the original through `reused_from`."""

    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    content_key: Mapped[str | None] = mapped_column(String(64), index=True)
    reused_from: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))  # None: this run sent it
    billed: Mapped[bool] = mapped_column(Boolean, default=False)  # a strong or LLM-judge request
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))  # weak_draft | strong_solo | strong_refine | judge
    sample_index: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    model: Mapped[str] = mapped_column(Text)
    adapter: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[list | None] = mapped_column(JSON)
    output: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    tokens_in: Mapped[int | None] = mapped_column(Integer)
    tokens_out: Mapped[int | None] = mapped_column(Integer)
    latency_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    # [[token, log probability], ...] of the output, where it was asked for (FLARE) and returned
    logprobs: Mapped[list | None] = mapped_column(JSON)


class CallRow(NamedTuple):
    """A stored call as the node steps read it back: every column of Call but the prompt (whose
    JSON costs more to read than all the rest), in the table's order."""

    id: int
    key: str
    content_key: str | None
    reused_from: int | None
    billed: bool
    run_id: int
    round: int
    query_id: int
    role: str
    sample_index: int
    parent_id: int | None
    model: str
    adapter: str | None
    output: str | None
    answer: str | None
    score: float | None
    tokens_in: int | None
    tokens_out: int | None
    latency_s: float | None
    error: str | None
    created_at: datetime
    logprobs: list | None


class Pair(Base):
    """A preference pair: two weak drafts of one query, the chosen one's refinement beat the
    strong model alone and the rejected one's did not."""

    __tablename__ = "pairs"
    __table_args__ = (UniqueConstraint("run_id", "round", "query_id", "idx"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    idx: Mapped[int] = mapped_column(Integer)  # j in Algorithm 1
    chosen_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    rejected_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Example(Base):
    """A judged draft that took a side: desirable when its collaboration beat the strong model alone
    (Δ > 0), undesirable otherwise; what KTO trains on (a pair uses two of them)."""

    __tablename__ = "examples"
    __table_args__ = (UniqueConstraint("run_id", "round", "query_id", "idx"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    idx: Mapped[int] = mapped_column(Integer)  # the draft's sample index
    draft_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    desirable: Mapped[bool] = mapped_column(Boolean)
    delta: Mapped[float] = mapped_column(Float)  # E(y*) - E(z)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Adapter(Base):
    """A trained LoRA adapter with its lineage. A round's row is written once its adapter is saved,
    so a rerun skips finished rounds and redoes an interrupted one."""

    __tablename__ = "adapters"
    __table_args__ = (UniqueConstraint("run_id", "round", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)  # 0 for SFT
    kind: Mapped[str] = mapped_column(String(16))  # sft | dpo | kto (the objective a round trained with)
    path: Mapped[str | None] = mapped_column(Text)  # None: the round trained nothing (no pairs)
    base_model: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("adapters.id"))
    parent_path: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(16))  # sft | previous | base
    pair_ids: Mapped[list] = mapped_column(JSON, default=list)
    example_ids: Mapped[list | None] = mapped_column(JSON, default=list)  # a KTO adapter's examples
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)  # TRL's training metrics + collect counts
    created_at: Mapped[datetime] = mapped_column(default=_now)


class EvalResult(Base):
    """One method's metrics on one task file: what `cowest eval` prints and `cowest report` draws."""

    __tablename__ = "eval_results"
    __table_args__ = (UniqueConstraint("run_id", "method", "data_hash", "n", "adapter"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    method: Mapped[str] = mapped_column(String(64))  # e.g. collab[cot]
    task: Mapped[str] = mapped_column(String(50))
    data_path: Mapped[str] = mapped_column(Text)
    data_hash: Mapped[str] = mapped_column(String(64))
    weak: Mapped[str | None] = mapped_column(Text)
    strong: Mapped[str | None] = mapped_column(Text)
    adapter: Mapped[str] = mapped_column(Text, default="")
    n: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)  # n, unparseable, and the task's two metrics
    # one record per query (tasks/stats.py): what intervals and paired comparisons are computed from
    per_query: Mapped[list | None] = mapped_column(JSON, default=list)
    strong_calls: Mapped[int] = mapped_column(Integer, default=0)
    strong_tokens: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Lease(Base):
    """Which worker is on which query of a round, so several `cowest collect` processes on one run
    split the queries instead of asking the same calls. A worker renews its leases while it works;
    a lease that expired is another worker's to take (its worker died)."""

    __tablename__ = "leases"
    __table_args__ = (UniqueConstraint("run_id", "round", "query_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    owner: Mapped[str | None] = mapped_column(String(120))
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)  # epoch seconds
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
