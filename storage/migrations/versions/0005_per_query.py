"""Evaluation results keep their per-query records, which intervals and paired tests are computed from.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("eval_results") as batch:
        batch.add_column(sa.Column("per_query", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("eval_results") as batch:
        batch.drop_column("per_query")
