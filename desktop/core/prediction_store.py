"""Stored predictions: reading them for the preview's bar chart and writing what the predictor returns.

Computing predictions needs torch and lives in ``desktop.core.predicting``; this module does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select

from desktop.core.project import Project
from desktop.db.engine import transaction
from desktop.db.models import Image, Prediction, TrainedModel
from desktop.db.queries import in_chunks, prediction_on_this_file


@dataclass(frozen=True)
class ImagePrediction:
    model_id: int
    class_names: list[str]
    probabilities: list[float]  # aligned with class_names

    @property
    def predicted(self) -> str:
        return self.class_names[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        return float(max(self.probabilities))


def prediction_for(project: Project, image_id: int, model_id: int | None = None) -> ImagePrediction | None:
    """The active (or given) model's prediction for this image, if it was made on the file's current content."""
    with project.sessions() as session:
        model_filter = TrainedModel.id == model_id if model_id is not None else TrainedModel.is_active.is_(True)
        row = session.execute(
            select(Prediction.model_id, TrainedModel.class_names, Prediction.probabilities)
            .join(TrainedModel, TrainedModel.id == Prediction.model_id)
            .join(Image, prediction_on_this_file())
            .where(Prediction.image_id == image_id, model_filter)
        ).first()
    return ImagePrediction(row[0], list(row[1]), list(row[2])) if row else None


def margin_of(probabilities: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per row: the smaller, the less sure the model is."""
    if probabilities.shape[1] < 2:
        return np.ones(len(probabilities), dtype=np.float32)
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def store_predictions(project: Project, model_id: int,
                      rows: Iterable[tuple[int, str, np.ndarray]]) -> int:
    """Save (image id, content hash, probabilities) rows, replacing this model's older ones for those images."""
    rows = list(rows)
    if not rows:
        return 0
    probabilities = np.stack([np.asarray(p, dtype=np.float64) for _, _, p in rows])
    predicted = probabilities.argmax(axis=1)
    margins = margin_of(probabilities)
    with transaction(project.sessions) as session:
        ids = [image_id for image_id, _, _ in rows]
        for chunk in in_chunks(ids):
            session.execute(delete(Prediction).where(Prediction.model_id == model_id, Prediction.image_id.in_(chunk)))
        session.add_all(
            Prediction(model_id=model_id, image_id=image_id, content_hash=content_hash,
                       probabilities=[round(float(p), 6) for p in probs], predicted_index=int(index),
                       confidence=float(probs[index]), margin=float(margin))
            for (image_id, content_hash, probs), index, margin in zip(rows, predicted, margins, strict=True)
        )
    return len(rows)
