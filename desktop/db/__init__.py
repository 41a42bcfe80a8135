"""Persistence: SQLAlchemy 2 typed models on SQLite, migrated with Alembic."""
