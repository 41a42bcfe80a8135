"""Faults the tests provoke on purpose: a full project disk inside SQLite, and whether a folder tells case apart.

Shared by the sorting, tagging and CLI tests (a top-level module: ``from diskfaults import …`` works from any test
folder, whatever else is collected)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine


def case_sensitive(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case-probe").touch()
    try:
        return not (folder / "CASE-PROBE").exists()
    finally:
        (folder / "case-probe").unlink()


def sqlite_full() -> sqlite3.OperationalError:
    """A genuine SQLITE_FULL from the driver (what a full disk gives), made on a tiny in-memory database."""
    connection = sqlite3.connect(":memory:")
    connection.execute("PRAGMA max_page_count=2")
    connection.execute("CREATE TABLE t (x)")
    try:
        while True:
            connection.execute("INSERT INTO t VALUES (?)", ("x" * 1000,))
    except sqlite3.OperationalError as exc:
        assert exc.sqlite_errorcode == sqlite3.SQLITE_FULL
        return exc
    finally:
        connection.close()


@contextmanager
def project_disk_full(after: int = 1, statement: str = "UPDATE sort_operations",
                       when: Callable[[], bool] = lambda: True,
                       error: sqlite3.Error | None = None) -> Iterator[None]:
    """SQLite writes starting with ``statement`` fail as on a full disk (or with ``error``): from the
    ``after``-th one on, while ``when()`` says so. Every engine, so a command's own project sees it too."""
    seen = 0
    error = error or sqlite_full()

    def fail(_connection, _cursor, sql: str, *_args) -> None:
        nonlocal seen
        if sql.startswith(statement) and when():
            seen += 1
            if seen >= after:
                raise error

    event.listen(Engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", fail)
