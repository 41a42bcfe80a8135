"""Query pieces the core modules share, so each idea is written once: where an image's file is, how to pass
many ids to ``IN (...)`` under SQLite's parameter limit, and which stored prediction is for the file as it is now.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, and_, literal
from sqlalchemy.orm import Bundle

from desktop.db.models import Folder, Image, Prediction

T = TypeVar("T")

# SQLite refuses a statement with more bound parameters than SQLITE_MAX_VARIABLE_NUMBER (999 before 3.32).
IN_CHUNK = 900


def image_path(root: str, rel_path: str) -> Path:
    """An image's file: its folder's root joined with the path inside it (stored with POSIX separators)."""
    return Path(root) / rel_path


class _ImagePath(Bundle):
    """Selects ``Folder.root`` and ``Image.rel_path`` and hands the row one ``Path``."""

    def create_row_processor(self, query, procs, labels):
        def path(row):
            root, rel_path = (proc(row) for proc in procs)
            return image_path(root, rel_path)

        return path


# A column for select(): the image's file as a Path (the query must join Folder, see with_folder).
IMAGE_PATH = _ImagePath("path", Folder.root, Image.rel_path)
# order_by(*BY_PATH): folder by folder, then by the path inside it.
BY_PATH = (Folder.root, Image.rel_path)


def with_folder(query: Select) -> Select:
    """``query`` joined from its images to their folders, so Folder.root (and IMAGE_PATH) can be selected."""
    return query.join(Folder, Folder.id == Image.folder_id)


def in_chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size``: one ``column.in_(chunk)`` statement per slice."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def prediction_on_this_file() -> ColumnElement[bool]:
    """The prediction is for this image and was made on its current content (an edited file's is stale)."""
    return and_(Prediction.image_id == Image.id, Prediction.content_hash == Image.content_hash)


def current_prediction(model_id: int | None) -> ColumnElement[bool]:
    """Join condition for ``model_id``'s prediction on this exact file; no model (None) matches none."""
    return and_(prediction_on_this_file(), Prediction.model_id == literal(-1 if model_id is None else model_id))
