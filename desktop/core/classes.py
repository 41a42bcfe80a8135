"""Classes the user sorts images into: create, rename, recolour, reorder, merge, delete."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from desktop.core.project import Project
from desktop.db.engine import transaction
from desktop.db.models import Image, ImageClass, Label
from desktop.errors import PigeonholeError

# Distinct, colour-blind-friendly colours (Okabe-Ito first, then Tableau), cycled for new classes.
PALETTE = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#4E79A7",
    "#F28E2B", "#59A14F", "#B07AA1", "#76B7B2", "#EDC948", "#FF9DA7", "#9C755F", "#BAB0AC",
)
SHORTCUT_KEYS = "123456789"


class ClassError(PigeonholeError):
    """A class operation was refused; the message is for the user."""


@dataclass(frozen=True, slots=True)
class ClassInfo:
    id: int
    name: str
    colour: str
    shortcut: str | None
    position: int
    count: int = 0


def list_classes(project: Project) -> list[ClassInfo]:
    """All classes in display order, with the number of images labelled with each."""
    # Usable images only (readable, present), so the counts add up to the status bar's "labelled".
    counts = (
        select(Label.class_id, func.count().label("n"))
        .join(Image, Image.id == Label.image_id)
        .where(Image.error.is_(None), Image.missing.is_(False))
        .group_by(Label.class_id)
        .subquery()
    )
    query = (
        select(ImageClass, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.class_id == ImageClass.id)
        .order_by(ImageClass.position, ImageClass.id)
    )
    with project.sessions() as session:
        return [_info(image_class, count) for image_class, count in session.execute(query)]


def _info(image_class: ImageClass, count: int = 0) -> ClassInfo:
    return ClassInfo(image_class.id, image_class.name, image_class.colour, image_class.shortcut,
                     image_class.position, count)


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ClassError("A class needs a name.")
    if any(ch in name for ch in '/\\:*?"<>|') or name in (".", ".."):
        raise ClassError(f"“{name}” cannot be a class name: it will name a folder, so avoid / \\ : * ? \" < > |.")
    if name.startswith("_"):
        raise ClassError("Class names cannot start with “_” (reserved for folders such as _unsure).")
    return name


def _find_by_name(session: Session, name: str, exclude_id: int | None = None) -> ImageClass | None:
    # Compared in Python: SQLite's lower() folds ASCII only, so "Été" and "été" would both be accepted.
    key = name.casefold()
    return next((c for c in session.scalars(select(ImageClass)) if c.name.casefold() == key and c.id != exclude_id),
                None)


def ensure_class(session: Session, name: str) -> ImageClass:
    """Return the class called ``name`` (case-insensitive), creating it at the end of the list."""
    name = _clean_name(name)
    existing = _find_by_name(session, name)
    if existing is not None:
        return existing
    taken = session.execute(select(ImageClass.position, ImageClass.shortcut, ImageClass.colour)).all()
    position = max((row.position for row in taken), default=-1) + 1
    used_keys = {row.shortcut for row in taken}
    used_colours = [row.colour for row in taken]
    shortcut = next((key for key in SHORTCUT_KEYS if key not in used_keys), None)
    colour = next((c for c in PALETTE if c not in used_colours), PALETTE[len(used_colours) % len(PALETTE)])
    image_class = ImageClass(name=name, colour=colour, shortcut=shortcut, position=position)
    session.add(image_class)
    session.flush()
    return image_class


def add_class(project: Project, name: str) -> ClassInfo:
    name = _clean_name(name)
    with transaction(project.sessions) as session:
        if _find_by_name(session, name) is not None:
            raise ClassError(f"There is already a class called “{name}”.")
        return _info(ensure_class(session, name))


def rename_class(project: Project, class_id: int, new_name: str) -> None:
    new_name = _clean_name(new_name)
    with transaction(project.sessions) as session:
        if _find_by_name(session, new_name, exclude_id=class_id) is not None:
            raise ClassError(f"There is already a class called “{new_name}”; merge the two instead.")
        session.execute(update(ImageClass).where(ImageClass.id == class_id).values(name=new_name))


def set_colour(project: Project, class_id: int, colour: str) -> None:
    with transaction(project.sessions) as session:
        session.execute(update(ImageClass).where(ImageClass.id == class_id).values(colour=colour))


def set_shortcut(project: Project, class_id: int, key: str | None) -> None:
    """Give ``key`` to this class, taking it away from any class that had it."""
    if key is not None and (len(key) != 1 or key not in SHORTCUT_KEYS):
        raise ClassError("Shortcut keys are the digits 1 to 9.")
    with transaction(project.sessions) as session:
        if key is not None:
            session.execute(update(ImageClass).where(ImageClass.shortcut == key).values(shortcut=None))
        session.execute(update(ImageClass).where(ImageClass.id == class_id).values(shortcut=key))


def move_class(project: Project, class_id: int, new_index: int) -> None:
    with transaction(project.sessions) as session:
        ordered = list(session.scalars(select(ImageClass).order_by(ImageClass.position, ImageClass.id)))
        moving = next(c for c in ordered if c.id == class_id)
        ordered.remove(moving)
        ordered.insert(max(0, min(new_index, len(ordered))), moving)
        for position, image_class in enumerate(ordered):
            image_class.position = position


def merge_classes(project: Project, source_id: int, target_id: int) -> int:
    """Relabel every image of ``source`` as ``target`` and delete ``source``; returns images moved."""
    if source_id == target_id:
        raise ClassError("Choose two different classes to merge.")
    with transaction(project.sessions) as session:
        moved = session.execute(update(Label).where(Label.class_id == source_id).values(class_id=target_id))
        session.execute(delete(ImageClass).where(ImageClass.id == source_id))
        return moved.rowcount or 0


def delete_class(project: Project, class_id: int) -> int:
    """Delete a class; its images become unlabelled (the image files are untouched). Returns that count."""
    with transaction(project.sessions) as session:
        count = session.scalar(select(func.count()).select_from(Label).where(Label.class_id == class_id)) or 0
        session.execute(delete(ImageClass).where(ImageClass.id == class_id))
        return count
