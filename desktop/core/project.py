"""A project: one folder holding the SQLite database, the thumbnail cache, model files and backups."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from desktop.db.engine import make_engine, make_session_factory
from desktop.db.migrate import upgrade_to_head
from desktop.errors import PigeonholeError
from desktop.io.thumbnails import ThumbnailStore

DB_FILE_NAME = "project.db"
PROJECT_SUFFIX = ".pigeonhole"


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


def open_project(path: Path | str, *, create: bool = True) -> Project:
    """Open (or create) the project at ``path`` and migrate its database to the current schema."""
    path = Path(path).expanduser().resolve()
    if path.is_file() and path.name == DB_FILE_NAME:
        path = path.parent
    if path.exists() and not path.is_dir():
        raise ProjectError(f"{path} is a file, not a project folder.")
    if not is_project_dir(path):
        if not create:
            raise ProjectError(f"There is no Pigeonhole project at {path}.")
        if path.exists() and any(path.iterdir()):
            raise ProjectError(f"{path} already contains other files; choose an empty or new folder.")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"Cannot create the project folder {path}: {exc.strerror or exc}.") from exc
    if not os.access(path, os.W_OK):
        raise ProjectError(f"The project folder {path} is read-only.")
    engine = make_engine(path / DB_FILE_NAME)
    try:
        upgrade_to_head(engine, path / DB_FILE_NAME, path / "backups")
    except Exception as exc:
        engine.dispose()
        # SQLAlchemy appends SQL and a help link on further lines; the user gets the driver's sentence.
        detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ProjectError(f"Cannot open the project database at {path}: {detail.rstrip('.')}.") from exc
    return Project(path, engine, make_session_factory(engine), ThumbnailStore(path / "thumbnails"))
