"""Is this file a Pigeonhole project database that Pigeonhole can read? Checked before any query runs.

A ``project.db`` can come from anywhere (a colleague's project, a download, another app's file that happens to
have the name). SQLite runs whatever its schema says: ``images`` made a recursive VIEW turns every query on it
into an endless loop, and another app's database would silently receive Pigeonhole's tables. So, reading only
``sqlite_master`` (which no schema can rewrite into a query):

- ``check_before_open``: no views, triggers or virtual tables (Pigeonhole makes none); tables but no
  ``alembic_version`` is another program's database; a revision this version does not know is a newer
  Pigeonhole's project.
- ``check_tables``: after the upgrade, every table the models declare is a table holding every column they
  declare, so a damaged or hand-edited schema is one sentence at open instead of an error deep in a command.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine

from desktop.errors import PigeonholeError

VERSION_TABLE = "alembic_version"


class SchemaError(PigeonholeError):
    """The database is not one this Pigeonhole can open; one sentence for the user."""


def read_only_connection(db_path: Path, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection that can only read ``db_path`` (never creates it, never writes into it or its folder).

    In a read-only folder SQLite cannot make the WAL index (``-shm``) a WAL database needs: such a database is
    read as immutable, which is exact while no ``-wal`` file holds changes not yet in the database (a project
    closed cleanly leaves none); with one, the folder must be writable."""
    uri = f"file:{quote(str(db_path))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, check_same_thread=check_same_thread)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        wal = db_path.with_name(db_path.name + "-wal")
        if wal.exists() and wal.stat().st_size:
            raise
    return sqlite3.connect(uri + "&immutable=1", uri=True, check_same_thread=check_same_thread)


def check_before_open(db_path: Path, known_revisions: frozenset[str] | set[str]) -> None:
    """Refuse, in one sentence, a database whose schema Pigeonhole did not make or cannot read."""
    try:
        with closing(read_only_connection(db_path)) as connection:
            objects = connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
            kinds = {name: kind for kind, name, _ in objects}
            versions = None
            if kinds.get(VERSION_TABLE) == "table":
                columns = [row[1] for row in connection.execute(f"PRAGMA table_info({VERSION_TABLE})")]
                if columns == ["version_num"]:
                    versions = [row[0] for row in connection.execute(f"SELECT version_num FROM {VERSION_TABLE}")]
    except sqlite3.DatabaseError:
        return  # unreadable here (busy, damaged, a read-only WAL): the open that follows says what it is
    foreign = sorted((name, "virtual table" if kind == "table" else kind) for kind, name, sql in objects
                     if kind in ("view", "trigger") or (kind == "table" and (sql or "").upper().startswith(
                         "CREATE VIRTUAL")))
    if foreign:
        what = ", ".join(f"a {kind} '{name}'" for name, kind in foreign[:3]) + (" and more" if len(foreign) > 3
                                                                              else "")
        raise SchemaError(f"The project database {db_path} was made or changed by another program: it holds {what}, "
                          "which Pigeonhole never makes. It was not opened.")
    tables = sorted(name for kind, name, _ in objects if kind == "table" and not name.startswith("sqlite_"))
    if tables and versions is None:
        raise SchemaError(f"{db_path} is another program's database (it holds {_names(tables)}), not a Pigeonhole "
                          "project; it was left as it is.")
    unknown = [version for version in versions or [] if version not in known_revisions]
    if unknown:
        raise SchemaError(f"The project at {db_path.parent} was made by a newer version of Pigeonhole (its "
                          f"database is at revision {_names(unknown)}); open it with that version, or update "
                          "Pigeonhole.")


def check_tables(engine: Engine, metadata) -> None:
    """Every table of ``metadata`` is a table of the database with at least the columns declared."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for table in metadata.sorted_tables:
            cursor.execute("SELECT type FROM sqlite_master WHERE name = ?", (table.name,))
            row = cursor.fetchone()
            if row is None or row[0] != "table":
                raise SchemaError(f"The project database {database_file(engine)} has no table '{table.name}', so "
                                  "it is damaged; restore a copy from the project's backups folder.")
            cursor.execute(f'PRAGMA table_info("{table.name}")')
            present = {column[1] for column in cursor.fetchall()}
            missing = sorted(column.name for column in table.columns if column.name not in present)
            if missing:
                raise SchemaError(f"The project database {database_file(engine)} lacks the column(s) "
                                  f"{_names(missing)} of table '{table.name}', so it is damaged; restore a copy from "
                                  "the project's backups folder.")
    finally:
        connection.close()


def database_file(engine: Engine) -> str:
    return engine.url.database or ""


def _names(names: list[str], most: int = 5) -> str:
    shown = ", ".join(f"'{name}'" for name in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
