"""Whether a project has enough labelled photos to train, said in words a user can act on (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from desktop.core.project import Project
from desktop.db.models import Image, ImageClass, Label
from desktop.ml.splits import MIN_IMAGES_PER_CLASS  # pure Python: no torch here

MIN_CLASSES = 2


@dataclass(frozen=True)
class Readiness:
    ready: bool
    message: str
    per_class: dict[str, int]


def labelled_counts(project: Project) -> dict[str, int]:
    """Usable (readable, present) labelled photos per class, in class order."""
    with project.sessions() as session:
        rows = session.execute(
            select(ImageClass.name, func.count(Image.id))
            .outerjoin(Label, Label.class_id == ImageClass.id)
            .outerjoin(Image, (Image.id == Label.image_id) & Image.error.is_(None) & Image.missing.is_(False))
            .group_by(ImageClass.id)
            .order_by(ImageClass.position, ImageClass.id)
        ).all()
    return dict(rows)


def training_readiness(project: Project) -> Readiness:
    counts = labelled_counts(project)
    usable = {name: n for name, n in counts.items() if n >= MIN_IMAGES_PER_CLASS}
    total = sum(usable.values())
    if len(usable) >= MIN_CLASSES:
        skipped = [name for name, n in counts.items() if 0 < n < MIN_IMAGES_PER_CLASS]
        note = (f" {', '.join(skipped)} {'has' if len(skipped) == 1 else 'have'} fewer than "
                f"{MIN_IMAGES_PER_CLASS} photos and will be left out." if skipped else "")
        return Readiness(True, f"Ready: {len(usable)} classes, {total:,} labelled photos.{note}", counts)
    now = ", ".join(f"{name} {n}" for name, n in counts.items()) or "no classes yet"
    return Readiness(
        False,
        f"To train, label at least {MIN_IMAGES_PER_CLASS} photos in each of at least {MIN_CLASSES} classes "
        f"(now: {now}).",
        counts,
    )
