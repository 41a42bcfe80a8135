"""What to label next: unlabelled photos the active model is least sure of (uncertainty sampling).

Margin (top-1 minus top-2 probability, small = torn between two classes) is the default, read straight from
the stored predictions; entropy (spread over all classes) is the alternative. Qt-free and torch-free: it only
reads predictions, so run ``desktop.core.predicting`` first for fresh ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from desktop.core.browse import ImageFilter, Show, list_images
from desktop.core.models_registry import ModelInfo, active_model
from desktop.core.project import Project
from desktop.db.models import Prediction
from desktop.db.queries import in_chunks

ORDERS = ("margin", "entropy")


@dataclass(frozen=True)
class Suggestion:
    image_id: int
    path: Path
    predicted: str
    confidence: float
    margin: float
    entropy: float | None = None  # only computed when ordering by entropy


def suggest_next(project: Project, n: int | None = None,
                 by: str = "margin") -> tuple[ModelInfo | None, list[Suggestion]]:
    """Unlabelled, readable photos with a current prediction from the active model, least sure first."""
    if by not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {by!r}")
    model = active_model(project)
    if model is None:
        return None, []
    rows = [row for row in list_images(project, ImageFilter(Show.UNLABELLED, least_confident_first=True))
            if row.margin is not None]
    suggestions = [Suggestion(row.id, row.path, model.class_names[row.predicted_index], row.confidence, row.margin)
                   for row in rows]
    if by == "entropy":
        entropies = _entropies(project, model.id, [s.image_id for s in suggestions])
        suggestions = sorted((Suggestion(s.image_id, s.path, s.predicted, s.confidence, s.margin,
                                         entropies.get(s.image_id)) for s in suggestions),
                             key=lambda s: -(s.entropy or 0.0))
    return model, suggestions[:n] if n is not None else suggestions


def _entropies(project: Project, model_id: int, image_ids: list[int]) -> dict[int, float]:
    result: dict[int, float] = {}
    with project.sessions() as session:
        for chunk in in_chunks(image_ids):
            for image_id, probabilities in session.execute(
                    select(Prediction.image_id, Prediction.probabilities)
                    .where(Prediction.model_id == model_id, Prediction.image_id.in_(chunk))):
                result[image_id] = -sum(p * math.log(p) for p in probabilities if p > 0)
    return result
