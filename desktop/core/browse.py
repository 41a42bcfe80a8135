"""The image rows the grid shows, filtered and ordered: one query, plain tuples, fast for 100,000 rows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Select, case, func, literal, select

from desktop.core.models_registry import active_model
from desktop.core.project import Project
from desktop.core.sorting.aside import set_aside_ids
from desktop.db.models import Folder, Image, ImageClass, Label, Prediction
from desktop.db.queries import BY_PATH, current_prediction, image_path, with_folder


class Show(StrEnum):
    ALL = "all"
    UNLABELLED = "unlabelled"
    CLASS = "class"
    BROKEN = "broken"
    IDS = "ids"  # an explicit set, e.g. the images behind one cell of a confusion matrix
    PREDICTED = "predicted"  # predicted as ``class_name`` by the active model
    DISAGREES = "disagrees"  # labelled, and the active model predicts another class


@dataclass(frozen=True)
class ImageFilter:
    show: Show = Show.ALL
    class_id: int | None = None  # with Show.CLASS
    folder_id: int | None = None  # None: every folder
    image_ids: tuple[int, ...] = ()  # with Show.IDS
    class_name: str | None = None  # with Show.PREDICTED
    least_confident_first: bool = False
    # With Show.IDS: rows in the order of ``image_ids`` (e.g. most suspicious label first), and a review:
    # a key moves on to the next row rather than to the next unlabelled photo.
    review: bool = False
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
    # The active model's prediction, when it predicted this exact file content:
    predicted_index: int | None = None  # into the model's class names
    confidence: float | None = None
    margin: float | None = None

    @property
    def path(self) -> Path:
        return image_path(self.folder_root, self.rel_path)

    @property
    def name(self) -> str:
        return self.rel_path.rsplit("/", 1)[-1]


def _query(image_filter: ImageFilter, model_id: int | None, class_names: list[str]) -> Select:
    # A prediction counts only for the active model and only while the file's content is unchanged.
    query = (
        with_folder(select(Image.id, Folder.root, Image.rel_path, Image.content_hash, Label.class_id, Image.error,
                           Image.missing, Image.width, Image.height, Prediction.predicted_index,
                           Prediction.confidence, Prediction.margin))
        .outerjoin(Label, Label.image_id == Image.id)
        .outerjoin(Prediction, current_prediction(model_id))
    )
    if image_filter.folder_id is not None:
        query = query.where(Image.folder_id == image_filter.folder_id)
    match image_filter.show:
        case Show.UNLABELLED:
            query = query.where(Label.class_id.is_(None), Image.error.is_(None), Image.missing.is_(False))
        case Show.CLASS:
            query = query.where(Label.class_id == image_filter.class_id, _not_set_aside())
        case Show.BROKEN:
            query = query.where(Image.error.is_not(None))
        case Show.IDS:
            query = query.where(Image.id.in_(image_filter.image_ids))
        case Show.PREDICTED:
            index = class_names.index(image_filter.class_name) if image_filter.class_name in class_names else -1
            query = query.where(Prediction.predicted_index == index, Image.error.is_(None))
        case Show.DISAGREES:
            # Compare by class name, so renumbered or re-created classes still match the model's names.
            label_name = select(ImageClass.name).where(ImageClass.id == Label.class_id).scalar_subquery()
            predicted_name = case({i: name for i, name in enumerate(class_names)}, value=Prediction.predicted_index,
                                  else_=None) if class_names else literal(None)
            query = query.where(Label.class_id.is_not(None), Prediction.id.is_not(None), label_name != predicted_name)
        case Show.ALL:
            query = query.where(Image.error.is_(None), _not_set_aside())
    if image_filter.least_confident_first:
        return query.order_by(Prediction.margin.is_(None), Prediction.margin, *BY_PATH)
    return query.order_by(*BY_PATH)


def _not_set_aside():
    """Duplicates moved aside are missing photos kept only so their undo brings their labels back: not shown."""
    return Image.missing.is_(False) | Image.id.not_in(set_aside_ids())


def list_images(project: Project, image_filter: ImageFilter) -> list[ImageRow]:
    model = active_model(project)
    query = _query(image_filter, model.id if model else None, model.class_names if model else [])
    with project.sessions() as session:
        rows = [ImageRow(*row) for row in session.execute(query)]
    if image_filter.review and image_filter.show == Show.IDS:
        position = {image_id: index for index, image_id in enumerate(image_filter.image_ids)}
        rows.sort(key=lambda row: position.get(row.id, len(position)))
    return rows


def count_images(project: Project) -> int:
    with project.sessions() as session:
        return session.scalar(select(func.count()).select_from(Image)) or 0


def count_matching(project: Project, image_filter: ImageFilter) -> int:
    """How many photos ``image_filter`` shows (e.g. the disagreements count in the sidebar)."""
    model = active_model(project)
    query = _query(image_filter, model.id if model else None, model.class_names if model else [])
    with project.sessions() as session:
        return session.scalar(select(func.count()).select_from(query.subquery())) or 0
