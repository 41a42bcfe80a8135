"""Alembic environment: batch mode for SQLite, foreign keys off while tables are rebuilt."""

from alembic import context
from sqlalchemy import text

from desktop.db.engine import make_engine
from desktop.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection) -> None:
    # Batch mode recreates tables; cascading deletes must not fire while it copies rows.
    connection.execute(text("PRAGMA foreign_keys=OFF"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.execute(text("PRAGMA foreign_keys=ON"))


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:  # command-line use by developers: `alembic -x db=path/to/project.db revision --autogenerate`
    from pathlib import Path

    db = context.get_x_argument(as_dictionary=True).get("db", "dev-project.db")
    with make_engine(Path(db)).connect() as conn:
        run_migrations(conn)
        conn.commit()
