"""Content-addressed calls: named, stable keys; `content_key`, `reused_from` and `billed` on calls.

Every stored call is re-keyed with the functions the nodes use now, from what its row and its run
hold (the run's stored settings give the decoding), so a run written by 0.1 resumes without asking
any call again, and its calls serve other runs.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from cowest.nodes.models.base import Sampling
from cowest.nodes.models.identity import decoding, model_identity
from cowest.nodes.models.spec import ModelSpec
from cowest.storage.keys import content_key, row_key, stable_key

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JUDGE_TOKENS = 8  # nodes/judge.py
_BILLED = ("strong_solo", "strong_refine")

runs = sa.table("runs", sa.column("id"), sa.column("name"), sa.column("task"), sa.column("config", sa.JSON))
queries = sa.table("queries", sa.column("id"), sa.column("qid"), sa.column("gold"))
calls = sa.table(
    "calls",
    *(
        sa.column(name)
        for name in ("id", "key", "run_id", "round", "query_id", "role", "sample_index", "parent_id", "model")
    ),
    sa.column("adapter"),
    sa.column("prompt", sa.JSON),
    sa.column("answer"),
    sa.column("content_key"),
    sa.column("billed"),
)


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("content_key", sa.String(64)))
        batch.add_column(sa.Column("reused_from", sa.Integer))
        batch.add_column(sa.Column("billed", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.create_index("ix_calls_content_key", ["content_key"])
        batch.create_foreign_key("fk_calls_reused_from", "calls", ["reused_from"], ["id"])
    _rekey(op.get_bind())


def downgrade() -> None:
    raise RuntimeError("0002 re-keys every call and cannot be undone: restore the backup taken before the upgrade")


def _rekey(conn) -> None:
    run_rows = {r.id: r for r in conn.execute(sa.select(runs))}
    query_rows = {q.id: q for q in conn.execute(sa.select(queries))}
    rows = list(conn.execute(sa.select(calls).order_by(calls.c.id)))
    by_id = {r.id: r for r in rows}
    taken: set[str] = set()
    for r in rows:
        run, query = run_rows[r.run_id], query_rows[r.query_id]
        parent = by_id.get(r.parent_id)
        key, content, billed = _keys(r, run, query, parent)
        if key in taken:  # two 0.1 rows of one call (a stale prompt): the later keeps its history only
            key = stable_key(legacy_row=r.id)
        taken.add(key)
        conn.execute(sa.update(calls).where(calls.c.id == r.id).values(key=key, content_key=content, billed=billed))


def _keys(r, run, query, parent) -> tuple[str, str, bool]:
    cfg = run.config or {}
    index, every_round = r.sample_index, r.role == "strong_solo"
    if r.role == "judge":  # 0.1 numbered judgments by batch position: the target's index is the parent's
        index = parent.sample_index if parent is not None else r.sample_index
        every_round = parent is not None and parent.role == "strong_solo"
    if r.role == "judge" and r.model == "exact":
        content = stable_key(judge="exact", task=run.task, answer=r.answer, gold=query.gold)
        billed = False
    else:
        spec = ModelSpec.parse(r.model).with_adapter(r.adapter)
        sample = None
        if r.role == "judge":
            sampling = Sampling(max_new_tokens=_JUDGE_TOKENS)
        elif r.role == "weak_draft" and cfg.get("mode") == "collect":
            sampling = Sampling(cfg.get("temperature", 1.0), cfg.get("top_p", 0.9), cfg.get("max_new_tokens", 256))
            sample = {"run": run.name, "round": r.round, "query": query.qid, "index": index}
        else:
            sampling = Sampling(
                max_new_tokens=cfg.get("max_new_tokens", 256), repetition_penalty=cfg.get("repetition_penalty", 1.1)
            )
        content = content_key(model_identity(spec), r.prompt, decoding(sampling, spec), sample)
        billed = r.role in _BILLED or r.role == "judge" or (r.role == "self_refine" and spec.provider != "huggingface")
    key = row_key(run.name, None if every_round else r.round, query.qid, r.role, index, content)
    return key, content, billed
