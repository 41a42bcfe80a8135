"""Engine and session factory for one project database file."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from desktop.errors import PigeonholeError

BUSY_TIMEOUT_MS = 10_000  # a write waits this long for another process's write instead of failing at once
FULL_BELOW_BYTES = 1 << 20  # an I/O error with less free space than this on the disk is a full disk


class DatabaseError(PigeonholeError):
    """The project database cannot be written or read (disk full, read-only, damaged, busy); one sentence."""


def _set_sqlite_pragmas(dbapi_connection, _record, *, read_only: bool = False) -> None:
    cursor = dbapi_connection.cursor()
    if not read_only:
        # WAL lets the GUI read while a worker writes; foreign keys are off by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # A schema (views, triggers, defaults) may not call functions that have side effects.
    cursor.execute("PRAGMA trusted_schema=OFF")
    cursor.close()
    # Python only handles Ctrl+C between its own instructions: a query that runs for ever inside SQLite (a
    # hostile schema) would never see it. A callback now and then lets the signal in; SQLite then stops the
    # query with SQLITE_INTERRUPT (``is_interrupted``).
    dbapi_connection.set_progress_handler(_let_signals_in, PROGRESS_EVERY)


PROGRESS_EVERY = 100_000  # SQLite virtual-machine steps between two calls: microseconds of work


def _let_signals_in() -> int:
    return 0  # 0: go on. A pending KeyboardInterrupt raised here aborts the statement instead


def is_interrupted(exc: BaseException) -> bool:
    """The statement was stopped by Ctrl+C (through ``_let_signals_in``)."""
    driver = exc.orig if isinstance(exc, DBAPIError) else exc
    return isinstance(driver, sqlite3.Error) and getattr(driver, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT


def make_engine(db_path: Path, *, read_only: bool = False) -> Engine:
    """The engine of one project database; ``read_only`` for a project the user cannot write (a read-only
    folder or disk): its commands that only read still work."""
    if read_only:
        from desktop.db.schema import read_only_connection

        # The URL still names the file (messages, ``database_path``); the creator opens it read-only.
        engine = create_engine(f"sqlite:///{db_path}", future=True,
                               creator=lambda: read_only_connection(db_path, check_same_thread=False))
        event.listen(engine, "connect", partial(_set_sqlite_pragmas, read_only=True))
        return engine
    engine = create_engine(f"sqlite:///{db_path}", future=True)
    event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects leave sessions as plain snapshots; nothing lazy-loads after the session closes.
    return sessionmaker(engine, expire_on_commit=False)


def database_path(engine: Engine) -> Path:
    return Path(engine.url.database or "")


def explain_database_error(exc: BaseException, db_path: Path | str) -> DatabaseError | None:
    """The sentence for an SQLite failure the user can act on (disk full, read-only, damaged, busy), else None.

    The transaction that failed was rolled back, so what was saved before it is kept; the sentences say so.
    """
    driver = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(driver, "sqlite_errorcode", None)
    if not isinstance(driver, sqlite3.Error) or code is None:
        return None
    primary = code & 0xFF  # extended codes carry the primary one in their low byte
    if primary == sqlite3.SQLITE_FULL or (primary == sqlite3.SQLITE_IOERR and disk_is_full(db_path)):
        return DatabaseError(f"The disk holding the project database {db_path} is full; free some space and "
                             "try again (everything saved before this is kept).")
    if primary == sqlite3.SQLITE_READONLY:
        return DatabaseError(f"The project database {db_path} is read-only; make it (and its folder) writable, "
                             "or copy the project somewhere writable, and try again.")
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return DatabaseError(f"The project database {db_path} is busy with another Pigeonhole; try again when it "
                             "has finished.")
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return DatabaseError(f"The project database {db_path} is damaged; restore a copy from the project's "
                             "backups folder.")
    if primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        return DatabaseError(f"The disk refused to read or write the project database {db_path} ({driver}); "
                             "check the disk and try again.")
    return None


def disk_is_full(db_path: Path | str) -> bool:
    """Whether the disk holding ``db_path`` is (all but) full. SQLite reports ENOSPC on its -wal/-shm files as a
    plain I/O error; the free space tells them apart."""
    try:
        return shutil.disk_usage(Path(db_path).parent).free < FULL_BELOW_BYTES
    except OSError:
        return False


@contextmanager
def transaction(factory: sessionmaker[Session], *, immediate: bool = False) -> Iterator[Session]:
    """One short unit of work: commit on success, roll back on any error.

    ``immediate`` takes the database's write lock first (waiting up to the busy timeout for another
    process's write), so what the transaction reads cannot change before it writes: for read-then-insert
    work that another process may do at the same moment. A disk-full, read-only or damaged database
    raises :class:`DatabaseError` with one sentence, after the rollback.
    """
    try:
        with factory() as session, session.begin():
            if immediate:
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session
    except DBAPIError as exc:
        engine = factory.kw.get("bind")
        explained = explain_database_error(exc, database_path(engine) if engine is not None else "")
        if explained is None:
            raise
        raise explained from exc
