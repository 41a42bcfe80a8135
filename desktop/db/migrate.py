"""Bring a project database to the newest schema at start-up, after a backup copy."""

from __future__ import annotations

import functools
import logging
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every schema revision this version of Pigeonhole can upgrade from (or is at); read once per process."""
    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def backup_database(db_path: Path, backup_dir: Path, tag: str) -> Path:
    """Copy the database with SQLite's online backup, which is consistent even in WAL mode."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")  # microseconds: two backups never share a name
    target = backup_dir / f"{db_path.stem}-{tag}-{stamp}.db"
    _copy_database(db_path, target)
    return target


def _copy_database(source_path: Path, target_path: Path) -> None:
    # SQLite's backup API writes through the target's own journal (a stale -wal beside it cannot resurface),
    # and the connections are closed here: `with sqlite3.connect()` only ends a transaction.
    with closing(sqlite3.connect(source_path)) as source, closing(sqlite3.connect(target_path)) as target:
        source.backup(target)


def upgrade_to_head(engine: Engine, db_path: Path, backup_dir: Path) -> Path | None:
    """Upgrade the schema; returns the backup made, if any. Restores the backup when the upgrade fails."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return None
    backup = None
    if current is not None:
        backup = backup_database(db_path, backup_dir, f"before-{head[:8]}")
        log.info("Backed up %s to %s before migrating", db_path, backup)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except Exception:
        if backup is not None:
            engine.dispose()
            _copy_database(backup, db_path)
        raise
    # env.py switched foreign keys off on the migration connection (and switching them back on inside the
    # still-open transaction is a no-op); drop it from the pool so every later connection runs the pragmas.
    engine.dispose()
    return backup
