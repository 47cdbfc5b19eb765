"""Alembic's entry point: migrate the connection cowest hands over (storage/migrate.py)."""

from alembic import context

from cowest.storage.schema import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
