"""The image rows the grid shows, filtered and ordered: one query, plain tuples, fast for 100,000 rows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Select, func, select

from desktop.core.project import Project
from desktop.db.models import Folder, Image, Label


class Show(StrEnum):
    ALL = "all"
    UNLABELLED = "unlabelled"
    CLASS = "class"
    BROKEN = "broken"
    IDS = "ids"  # an explicit set, e.g. the images behind one cell of a confusion matrix


@dataclass(frozen=True)
class ImageFilter:
    show: Show = Show.ALL
    class_id: int | None = None  # with Show.CLASS
    folder_id: int | None = None  # None: every folder
    image_ids: tuple[int, ...] = ()  # with Show.IDS
    title: str = ""  # what the view is called when it is not one of the sidebar's entries


@dataclass(slots=True)
class ImageRow:
    id: int
    folder_root: str
    rel_path: str
    content_hash: str
    class_id: int | None
    error: str | None
    missing: bool
    width: int | None
    height: int | None

    @property
    def path(self) -> Path:
        return Path(self.folder_root) / self.rel_path

    @property
    def name(self) -> str:
        return self.rel_path.rsplit("/", 1)[-1]


def _query(image_filter: ImageFilter) -> Select:
    query = (
        select(Image.id, Folder.root, Image.rel_path, Image.content_hash, Label.class_id, Image.error,
               Image.missing, Image.width, Image.height)
        .join(Folder, Folder.id == Image.folder_id)
        .outerjoin(Label, Label.image_id == Image.id)
    )
    if image_filter.folder_id is not None:
        query = query.where(Image.folder_id == image_filter.folder_id)
    match image_filter.show:
        case Show.UNLABELLED:
            query = query.where(Label.class_id.is_(None), Image.error.is_(None), Image.missing.is_(False))
        case Show.CLASS:
            query = query.where(Label.class_id == image_filter.class_id)
        case Show.BROKEN:
            query = query.where(Image.error.is_not(None))
        case Show.IDS:
            query = query.where(Image.id.in_(image_filter.image_ids))
        case Show.ALL:
            query = query.where(Image.error.is_(None))
    return query.order_by(Folder.root, Image.rel_path)


def list_images(project: Project, image_filter: ImageFilter) -> list[ImageRow]:
    with project.sessions() as session:
        return [ImageRow(*row) for row in session.execute(_query(image_filter))]


def count_images(project: Project) -> int:
    with project.sessions() as session:
        return session.scalar(select(func.count()).select_from(Image)) or 0
