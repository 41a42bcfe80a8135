"""Counts and broken files for a project, as shown by `pigeonhole status` and the status bar."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from desktop.core.project import Project
from desktop.core.sorting.aside import is_set_aside
from desktop.db.models import Image, ImageClass, Label
from desktop.db.queries import BY_PATH, IMAGE_PATH, with_folder


@dataclass
class ProjectStatus:
    images: int
    labelled: int
    unlabelled: int
    broken: int
    missing: int
    classes: dict[str, int]
    broken_files: list[dict[str, str]] = field(default_factory=list)
    set_aside: int = 0  # duplicates moved aside (Sort ▸ Undo Last Sort puts them back): resolved, not missing

    def as_json(self) -> dict:
        return {
            "images": self.images,
            "labelled": self.labelled,
            "unlabelled": self.unlabelled,
            "broken": self.broken,
            "missing": self.missing,
            "set_aside": self.set_aside,
            "classes": self.classes,
            "broken_files": self.broken_files,
        }


def project_status(project: Project, broken_limit: int | None = None) -> ProjectStatus:
    """Every photo the project knows is in exactly one of four groups, so the numbers add up: set aside
    (duplicates moved aside and not put back), missing (otherwise gone from disk at the last scan, whatever it was
    before), broken (present but unreadable), and usable (``images``), which splits into labelled + unlabelled."""
    usable = (Image.error.is_(None)) & (Image.missing.is_(False))
    broken_present = Image.error.is_not(None) & Image.missing.is_(False)
    with project.sessions() as session:
        images = session.scalar(select(func.count()).select_from(Image).where(usable)) or 0
        labelled = session.scalar(
            select(func.count()).select_from(Image).join(Label, Label.image_id == Image.id).where(usable)
        ) or 0
        broken = session.scalar(select(func.count()).select_from(Image).where(broken_present)) or 0
        missing = session.scalar(select(func.count()).select_from(Image).where(Image.missing.is_(True))) or 0
        set_aside = session.scalar(select(func.count()).select_from(Image).where(is_set_aside())) or 0
        per_class = dict(
            session.execute(
                select(ImageClass.name, func.count(Image.id))  # usable images only, so they sum to labelled
                .outerjoin(Label, Label.class_id == ImageClass.id)
                .outerjoin(Image, (Image.id == Label.image_id) & usable)
                .group_by(ImageClass.id)
                .order_by(ImageClass.position, ImageClass.id)
            ).all()
        )
        broken_rows = session.execute(
            with_folder(select(IMAGE_PATH, Image.error).select_from(Image))
            .where(broken_present)
            .order_by(*BY_PATH)
            .limit(broken_limit)
        ).all()
    return ProjectStatus(
        images=images,
        labelled=labelled,
        unlabelled=images - labelled,
        broken=broken,
        missing=missing - set_aside,
        classes=per_class,
        broken_files=[{"path": str(path), "reason": error} for path, error in broken_rows],
        set_aside=set_aside,
    )
