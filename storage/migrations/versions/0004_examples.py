"""Examples: every judged draft that took a side, labelled for KTO; adapters record theirs.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "examples",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("query_id", sa.Integer, sa.ForeignKey("queries.id"), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("draft_id", sa.Integer, sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("desirable", sa.Boolean, nullable=False),
        sa.Column("delta", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("run_id", "round", "query_id", "idx"),
    )
    with op.batch_alter_table("adapters") as batch:
        batch.add_column(sa.Column("example_ids", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("adapters") as batch:
        batch.drop_column("example_ids")
    op.drop_table("examples")
