"""Setting human labels, as reversible changes so every edit can be undone and redone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select

from desktop.core.project import Project
from desktop.db.engine import transaction
from desktop.db.models import Label
from desktop.db.queries import in_chunks


@dataclass(frozen=True)
class LabelChange:
    """What a labelling action did: each image's class before and after (None = unlabelled)."""

    before: Mapping[int, int | None]
    after: Mapping[int, int | None]

    @property
    def image_ids(self) -> list[int]:
        return list(self.after)

    def __bool__(self) -> bool:
        return any(self.before[i] != self.after[i] for i in self.after)


def labels_of(project: Project, image_ids: Iterable[int]) -> dict[int, int | None]:
    ids = list(image_ids)
    result: dict[int, int | None] = dict.fromkeys(ids)
    with project.sessions() as session:
        for chunk in in_chunks(ids):
            for image_id, class_id in session.execute(
                select(Label.image_id, Label.class_id).where(Label.image_id.in_(chunk))
            ):
                result[image_id] = class_id
    return result


def set_label(project: Project, image_ids: Iterable[int], class_id: int | None, source: str = "user") -> LabelChange:
    """Label the images with ``class_id`` (None clears their labels); returns the change for undo."""
    ids = list(dict.fromkeys(image_ids))
    before = labels_of(project, ids)
    change = LabelChange(before, dict.fromkeys(ids, class_id))
    _write(project, change.after, source)
    return change


def undo(project: Project, change: LabelChange) -> None:
    _write(project, change.before, "user")


def redo(project: Project, change: LabelChange) -> None:
    _write(project, change.after, "user")


def _write(project: Project, state: Mapping[int, int | None], source: str) -> None:
    with transaction(project.sessions) as session:
        ids = list(state)
        for chunk in in_chunks(ids):
            session.execute(delete(Label).where(Label.image_id.in_(chunk)))
        session.add_all(
            Label(image_id=image_id, class_id=class_id, source=source)
            for image_id, class_id in state.items()
            if class_id is not None
        )
