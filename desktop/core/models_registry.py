"""Trained models as the rest of the app sees them: which one is active, and their class names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from desktop.core.project import Project
from desktop.db.engine import transaction
from desktop.db.models import TrainedModel


@dataclass(frozen=True)
class ModelInfo:
    id: int
    created: datetime
    file: Path  # absolute
    backbone: str
    mode: str
    class_names: list[str]
    train_images: int
    val_images: int
    val_accuracy: float | None
    metrics: dict[str, Any]
    settings: dict[str, Any]
    device: str
    seconds: float
    note: str
    is_active: bool


def _info(project: Project, row: TrainedModel) -> ModelInfo:
    return ModelInfo(row.id, row.created_at, project.path / row.file, row.backbone, row.mode, list(row.class_names),
                     row.train_images, row.val_images, row.val_accuracy, dict(row.metrics), dict(row.settings),
                     row.device, row.seconds, row.note, row.is_active)


def list_models(project: Project) -> list[ModelInfo]:
    with project.sessions() as session:
        return [_info(project, row) for row in session.scalars(select(TrainedModel).order_by(TrainedModel.id))]


def active_model_row(session: Session) -> TrainedModel | None:
    """The active model's row: the one home of "which model is active" (the newest, should several be marked)."""
    return session.scalar(select(TrainedModel).where(TrainedModel.is_active.is_(True))
                          .order_by(TrainedModel.id.desc()).limit(1))


def active_model(project: Project) -> ModelInfo | None:
    with project.sessions() as session:
        row = active_model_row(session)
        return _info(project, row) if row is not None else None


def set_active(project: Project, model_id: int) -> None:
    with transaction(project.sessions) as session:
        session.execute(update(TrainedModel).values(is_active=False))
        session.execute(update(TrainedModel).where(TrainedModel.id == model_id).values(is_active=True))


def set_note(project: Project, model_id: int, note: str) -> None:
    with transaction(project.sessions) as session:
        session.execute(update(TrainedModel).where(TrainedModel.id == model_id).values(note=note.strip()))


def delete_model(project: Project, model_id: int) -> int | None:
    """Delete a model, its predictions and its file; if it was active, the newest remaining one becomes active.
    Returns the active model's id afterwards (None when no model is left)."""
    with transaction(project.sessions) as session:
        row = session.get(TrainedModel, model_id)
        if row is None:
            return None
        file, was_active = project.path / row.file, row.is_active
        session.delete(row)  # predictions go with it (ON DELETE CASCADE)
        session.flush()
        if was_active:
            newest = session.scalar(select(TrainedModel).order_by(TrainedModel.id.desc()).limit(1))
            if newest is not None:
                newest.is_active = True
        active = session.scalar(select(TrainedModel.id).where(TrainedModel.is_active.is_(True)))
    # After the commit: a crash in between leaves a stray file, never a row without its file.
    file.unlink(missing_ok=True)
    return active
