"""The schema of cowest 0.1. Stores written before migrations existed are stamped at this revision.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    _runs()
    _queries()
    _calls()
    _pairs()
    _adapters()
    _eval_results()


def _runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), unique=True, nullable=False),
        sa.Column("task", sa.String(50), nullable=False),
        sa.Column("data_path", sa.Text),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def _queries() -> None:
    op.create_table(
        "queries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("qid", sa.String(200), nullable=False),
        sa.Column("line", sa.Integer),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("gold", sa.Text),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("run_id", "qid"),
    )


def _calls() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), unique=True, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("query_id", sa.Integer, sa.ForeignKey("queries.id"), nullable=False, index=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("sample_index", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("calls.id")),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("adapter", sa.Text),
        sa.Column("prompt", sa.JSON),
        sa.Column("output", sa.Text),
        sa.Column("answer", sa.Text),
        sa.Column("score", sa.Float),
        sa.Column("tokens_in", sa.Integer),
        sa.Column("tokens_out", sa.Integer),
        sa.Column("latency_s", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def _pairs() -> None:
    op.create_table(
        "pairs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("query_id", sa.Integer, sa.ForeignKey("queries.id"), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("chosen_id", sa.Integer, sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("rejected_id", sa.Integer, sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("run_id", "round", "query_id", "idx"),
    )


def _adapters() -> None:
    op.create_table(
        "adapters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), index=True),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.Text),
        sa.Column("base_model", sa.Text, nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("adapters.id")),
        sa.Column("parent_path", sa.Text),
        sa.Column("reference", sa.String(16)),
        sa.Column("pair_ids", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("run_id", "round", "kind"),
    )


def _eval_results() -> None:
    op.create_table(
        "eval_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("task", sa.String(50), nullable=False),
        sa.Column("data_path", sa.Text, nullable=False),
        sa.Column("data_hash", sa.String(64), nullable=False),
        sa.Column("weak", sa.Text),
        sa.Column("strong", sa.Text),
        sa.Column("adapter", sa.Text, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("strong_calls", sa.Integer, nullable=False),
        sa.Column("strong_tokens", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("run_id", "method", "data_hash", "n", "adapter"),
    )


def downgrade() -> None:
    for table in ("eval_results", "adapters", "pairs", "calls", "queries", "runs"):
        op.drop_table(table)
