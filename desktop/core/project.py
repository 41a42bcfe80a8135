"""A project: one folder holding the SQLite database, the thumbnail cache, model files and backups."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from desktop.db.engine import disk_is_full, explain_database_error, make_engine, make_session_factory
from desktop.db.migrate import current_revision, head_revision, known_revisions, upgrade_to_head
from desktop.db.models import Base
from desktop.db.schema import SchemaError, check_before_open, check_tables
from desktop.errors import PigeonholeError
from desktop.io.files import FileReadError, read_head
from desktop.io.locks import exclusive_lock
from desktop.io.thumbnails import ThumbnailStore

DB_FILE_NAME = "project.db"
PROJECT_SUFFIX = ".pigeonhole"
BACKUPS_DIR_NAME = "backups"
SQLITE_HEADER = b"SQLite format 3\x00"
# Lock files (empty, kept; see desktop.io.locks): one import at a time, one schema upgrade at a time.
IMPORT_LOCK_NAME = ".import.lock"
OPEN_LOCK_NAME = ".open.lock"
OPEN_LOCK_WAIT_S = 60.0  # a second process opening the project waits for the first one's upgrade


class ProjectError(PigeonholeError):
    """A project cannot be opened or created; the message is for the user."""


@dataclass
class Project:
    path: Path
    engine: Engine
    sessions: sessionmaker[Session]
    thumbnails: ThumbnailStore

    @property
    def db_path(self) -> Path:
        return self.path / DB_FILE_NAME

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    @property
    def import_lock_path(self) -> Path:
        return self.path / IMPORT_LOCK_NAME

    @property
    def cache_dir(self) -> Path:
        return self.path / "cache"

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(PROJECT_SUFFIX)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def is_project_dir(path: Path) -> bool:
    return (path / DB_FILE_NAME).is_file()


def open_project(path: Path | str, *, create: bool = True, writes: bool = True) -> Project:
    """Open (or create) the project at ``path`` and migrate its database to the current schema.

    Refused with one sentence: a path that is a file or anything but a folder, a read-only folder or database,
    a project.db that is empty, not SQLite or not a regular file (a new schema is never created over it), and
    a database Pigeonhole did not make or a newer Pigeonhole made (``desktop.db.schema``). ``writes=False``
    (commands that only read, `status`): a read-only project, or one on a full disk, is opened read-only instead
    of refused.
    """
    path = Path(path).expanduser().resolve()
    if path.is_file() and path.name == DB_FILE_NAME:
        path = path.parent
    if path.exists() and not path.is_dir():
        if path.is_file():
            raise ProjectError(f"{path} is a file, not a project folder.")
        raise ProjectError(f"{path} is not a folder, so it cannot be a project.")
    db_path = path / DB_FILE_NAME
    if not os.path.lexists(db_path):
        if not create:
            raise ProjectError(f"There is no Pigeonhole project at {path}.")
        if path.exists() and any(entry.name not in _LOCK_NAMES for entry in path.iterdir()):
            raise ProjectError(f"{path} already contains other files; choose an empty or new folder.")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"Cannot create the project folder {path}: {exc.strerror or exc}.") from exc
    if not writes and os.path.lexists(db_path):
        if not _writable(path, db_path):
            return _open_read_only(path, db_path)
        try:
            return open_project(path, create=False)
        except ProjectError:
            if not disk_is_full(db_path):
                raise
            return _open_read_only(path, db_path)  # a full disk still lets `status` read
    if not os.access(path, os.W_OK):
        raise ProjectError(f"The project folder {path} is read-only.")
    # Under the lock, a second process opening the same project at once waits for the first one to finish
    # creating or upgrading the database, instead of finding it half made.
    with exclusive_lock(path / OPEN_LOCK_NAME, f"Another Pigeonhole is upgrading the project {path}; try again "
                        "in a minute.", wait_s=OPEN_LOCK_WAIT_S):
        created = not os.path.lexists(db_path)
        if not created:
            _check_database_file(db_path, path / BACKUPS_DIR_NAME)
            _check_schema(db_path)
            if not os.access(db_path, os.W_OK):
                raise ProjectError(f"The project database {db_path} is read-only; make it writable (or copy the "
                                   "project somewhere writable) and open it again.")
        engine = make_engine(db_path)
        try:
            upgrade_to_head(engine, db_path, path / BACKUPS_DIR_NAME)
            check_tables(engine, Base.metadata)
        except Exception as exc:
            engine.dispose()
            if created:  # a half-made new database would read as a damaged project next time
                for leftover in (db_path, db_path.with_name(DB_FILE_NAME + "-wal"),
                                 db_path.with_name(DB_FILE_NAME + "-shm")):
                    leftover.unlink(missing_ok=True)
            if isinstance(exc, SchemaError):
                raise ProjectError(str(exc)) from exc
            if isinstance(exc, PigeonholeError):
                raise
            explained = explain_database_error(exc, db_path)
            if explained is not None:
                raise ProjectError(str(explained)) from exc
            # SQLAlchemy appends SQL and a help link on further lines; the user gets the driver's sentence.
            detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ProjectError(f"Cannot open the project database at {path}: {detail.rstrip('.')}.") from exc
    return Project(path, engine, make_session_factory(engine), ThumbnailStore(path / "thumbnails"))


_LOCK_NAMES = frozenset({IMPORT_LOCK_NAME, OPEN_LOCK_NAME})


def _check_schema(db_path: Path) -> None:
    """``db.schema.check_before_open`` as a ProjectError: the app shows those where it opens a project."""
    try:
        check_before_open(db_path, known_revisions())
    except SchemaError as exc:
        raise ProjectError(str(exc)) from exc


def _writable(path: Path, db_path: Path) -> bool:
    """The folder and its database can be written (chmod or a read-only disk; root passes os.access, so the
    immutable flag and read-only mounts are tried for real)."""
    if not (os.access(path, os.W_OK) and os.access(db_path, os.W_OK)):
        return False
    try:
        os.close(os.open(db_path, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0)))
    except OSError:
        return False
    return True


def _open_read_only(path: Path, db_path: Path) -> Project:
    """A project the user cannot write, for reading: no lock file (none can be made), no upgrade (none can be
    written), so only a database at this version's schema."""
    _check_database_file(db_path, path / BACKUPS_DIR_NAME)
    _check_schema(db_path)
    engine = make_engine(db_path, read_only=True)
    try:
        if current_revision(engine) != head_revision():
            raise ProjectError(f"The project {path} is read-only and was made by an older Pigeonhole: make it "
                               "writable and open it once, so its database can be upgraded.")
        check_tables(engine, Base.metadata)
    except Exception as exc:
        engine.dispose()
        if isinstance(exc, SchemaError):
            raise ProjectError(str(exc)) from exc
        if isinstance(exc, PigeonholeError):
            raise
        explained = explain_database_error(exc, db_path)
        if explained is None:
            raise
        raise ProjectError(str(explained)) from exc
    return Project(path, engine, make_session_factory(engine), ThumbnailStore(path / "thumbnails"))


def _check_database_file(db_path: Path, backups: Path) -> None:
    """Refuse a project.db that cannot be a database: SQLite would hang on a pipe, and would silently turn an
    empty file (a failed copy, a full disk) into a new, empty project."""
    try:
        header = read_head(db_path, len(SQLITE_HEADER))
    except FileReadError as exc:
        raise ProjectError(f"The project database {db_path} cannot be opened ({exc.reason}).") from exc
    if header == SQLITE_HEADER:
        return
    problem = "is empty (0 bytes)" if not header else "is not an SQLite database"
    raise ProjectError(f"The project database {db_path} {problem}, so it is damaged; {_restore_hint(backups)}.")


def _restore_hint(backups: Path) -> str:
    try:
        copies = sorted(backups.glob("*.db"), key=lambda copy: copy.stat().st_mtime)
    except OSError:
        copies = []
    if not copies:
        return f"the project has no backups in {backups}, so restore project.db from your own backup"
    return f"copy its newest backup, {copies[-1]}, over it (the project keeps backups in {backups})"
