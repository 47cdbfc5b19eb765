"""Content-addressed calls: named, stable keys; `content_key`, `reused_from` and `billed` on calls.

Every stored call is re-keyed as key version 2 keys it, from what its row and its run hold (the
run's stored settings give the decoding), so a run written by 0.1 resumes without asking any call
again, and its calls serve other runs. The key functions are frozen copies of version 2's, so
that what this step writes never changes with the code; it reads nothing but the store and the one
setting `cowest db upgrade --openai-base-url` passes (where the 0.1 runs' `openai:` calls went,
which 0.1 did not record), never the shell's environment.

Revision ID: 0002
Revises: 0001
"""

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from alembic import op

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
    config = op.get_context().config
    endpoint = config.attributes.get("openai_base_url") if config is not None else None
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("content_key", sa.String(64)))
        batch.add_column(sa.Column("reused_from", sa.Integer))
        batch.add_column(sa.Column("billed", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.create_index("ix_calls_content_key", ["content_key"])
        batch.create_foreign_key("fk_calls_reused_from", "calls", ["reused_from"], ["id"])
    _rekey(op.get_bind(), endpoint)


def downgrade() -> None:
    raise RuntimeError("0002 re-keys every call and cannot be undone: restore the backup taken before the upgrade")


def _rekey(conn, endpoint: str | None) -> None:
    run_rows = {r.id: r for r in conn.execute(sa.select(runs))}
    query_rows = {q.id: q for q in conn.execute(sa.select(queries))}
    rows = list(conn.execute(sa.select(calls).order_by(calls.c.id)))
    by_id = {r.id: r for r in rows}
    taken: set[str] = set()
    for r in rows:
        run, query = run_rows[r.run_id], query_rows[r.query_id]
        parent = by_id.get(r.parent_id)
        key, content, billed = _keys(r, run, query, parent, endpoint)
        if key in taken:  # two 0.1 rows of one call (a stale prompt): the later keeps its history only
            key = stable_key(legacy_row=r.id)
        taken.add(key)
        conn.execute(sa.update(calls).where(calls.c.id == r.id).values(key=key, content_key=content, billed=billed))


def _keys(r, run, query, parent, endpoint: str | None) -> tuple[str, str, bool]:
    cfg = run.config or {}
    index, every_round = r.sample_index, r.role == "strong_solo"
    if r.role == "judge":  # 0.1 numbered judgments by batch position: the target's index is the parent's
        index = parent.sample_index if parent is not None else r.sample_index
        every_round = parent is not None and parent.role == "strong_solo"
    if r.role == "judge" and r.model == "exact":
        content = stable_key(judge="exact", task=run.task, answer=r.answer, gold=query.gold)
        billed = False
    else:
        provider, model = _parse_spec(r.model)
        sample = None
        if r.role == "judge":
            sampling = _sampling(max_new_tokens=_JUDGE_TOKENS)
        elif r.role == "weak_draft" and cfg.get("mode") == "collect":
            sampling = _sampling(cfg.get("temperature", 1.0), cfg.get("top_p", 0.9), cfg.get("max_new_tokens", 256))
            sample = {"run": run.name, "round": r.round, "query": query.qid, "index": index}
        else:
            sampling = _sampling(
                max_new_tokens=cfg.get("max_new_tokens", 256), repetition_penalty=cfg.get("repetition_penalty", 1.1)
            )
        identity = _model_identity(provider, model, r.adapter, endpoint)
        content = content_key(identity, r.prompt, _decoding(sampling, provider), sample)
        billed = r.role in _BILLED or r.role == "judge" or (r.role == "self_refine" and provider != "huggingface")
    key = row_key(run.name, None if every_round else r.round, query.qid, r.role, index, content)
    return key, content, billed


# -- key version 2, frozen (storage/keys.py, nodes/models/identity.py and spec.py as they were) ----------
_KEY_VERSION = 2
_BUNDLED = "smollm2"
_SAMPLING_DEFAULTS = {"temperature": 0.0, "top_p": 1.0, "max_new_tokens": 256, "repetition_penalty": 1.0}


def stable_key(**fields) -> str:
    named = {k: v for k, v in fields.items() if v is not None}
    text = json.dumps({"v": _KEY_VERSION, **named}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def content_key(model: dict, messages, decoding: dict, sample: dict | None = None) -> str:
    return stable_key(model=model, messages=messages, decoding=decoding or None, sample=sample)


def row_key(run: str, round: int | None, qid: str, role: str, index: int, content: str) -> str:
    return stable_key(run=run, round=round, query=qid, role=role, index=index, content=content)


def _parse_spec(text: str) -> tuple[str, str]:
    """(provider, model) of a stored model spec (stored without its adapter)."""
    text = text.strip()
    if text == _BUNDLED:
        return "huggingface", _BUNDLED
    provider, _, model = text.partition(":")
    return provider, model


def _sampling(temperature=0.0, top_p=1.0, max_new_tokens=256, repetition_penalty=1.0) -> dict:
    return {
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
        "repetition_penalty": repetition_penalty,
    }


def _decoding(sampling: dict, provider: str) -> dict:
    fields = dict(sampling)
    if sampling["temperature"] <= 0:
        fields.pop("top_p")
    if provider != "huggingface":
        fields.pop("repetition_penalty")
    return {k: v for k, v in fields.items() if v != _SAMPLING_DEFAULTS[k]}


def _model_identity(provider: str, model: str, adapter: str | None, endpoint: str | None) -> dict:
    if provider == "huggingface":
        return {"provider": provider, "model": model, "adapter": adapter and _adapter_digest(adapter)}
    if provider != "openai":
        return {"provider": provider, "model": model, "endpoint": None}
    return {"provider": provider, "model": model, "endpoint": endpoint}


def _adapter_digest(path: str) -> str:
    folder = Path(path)
    files = sorted(p for p in folder.glob("adapter_*") if p.is_file()) if folder.is_dir() else []
    if not files:
        return f"path:{path}"
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()
