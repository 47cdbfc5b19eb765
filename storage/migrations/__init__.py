"""Alembic migrations of the store's schema and keys (`cowest db upgrade`)."""
