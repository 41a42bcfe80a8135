"""What "train" means to a user: a new model from the labelled photos, made active, then its predictions for every
photo — the grid's classes, the probability bars, "label next", the sort. The CLI's `train` runs it whole; the GUI
runs the same two steps as two jobs (``desktop.ui.controllers``), so the Train tab shows the new model's results
while its predictions fill in on their own cancellable line.

A prediction step that stops (cancelled, or a photo set that cannot be read) never undoes the training: the model
is saved and active first, and the photos predicted so far keep their predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from desktop.core.predicting import PredictProgress, PredictSummary, predict_project
from desktop.core.project import Project
from desktop.core.training import train_project
from desktop.core.training_types import TrainingProgress, TrainingSummary
from desktop.errors import Cancelled, PigeonholeError
from desktop.ml.options import TrainingOptions
from desktop.progress import CancelToken


@dataclass(frozen=True)
class NewModel:
    training: TrainingSummary
    predictions: PredictSummary | None  # None: asked not to predict

    def as_json(self) -> dict:
        predicted = self.predictions
        return self.training.as_json() | {"predictions": None if predicted is None else {
            "predicted": predicted.predicted, "already": predicted.already,
            "unreadable": [{"path": path, "reason": reason} for path, reason in predicted.unreadable],
            "seconds": round(predicted.seconds, 2)}}


class PredictingFailed(PigeonholeError):
    """The model is trained, saved and active; predicting the photos with it failed (the cause is chained)."""

    def __init__(self, training: TrainingSummary) -> None:
        super().__init__(f"Model {training.model_id} is trained and active, but predicting the photos with it failed.")
        self.training = training


def predict_with_new_model(project: Project, model_id: int,
                           on_progress: Callable[[PredictProgress], None] | None = None,
                           cancel: CancelToken | None = None) -> PredictSummary:
    """Every readable photo that model has not predicted yet (all of them for a new model). By its id, not "the
    active one": another process may have made its own model active meanwhile."""
    return predict_project(project, "all", model_id=model_id, on_progress=on_progress, cancel=cancel)


def train_then_predict(project: Project, options: TrainingOptions, *, predict: bool = True,
                       on_training: Callable[[TrainingProgress], None] | None = None,
                       on_predicting: Callable[[PredictProgress], None] | None = None,
                       cancel: CancelToken | None = None) -> NewModel:
    """Train and activate a model (``train_project``: its errors and a cancel leave the project unchanged), then
    predict every photo with it unless ``predict`` is False. A cancel while predicting raises Cancelled with the
    new model already active; any other failure of that step raises PredictingFailed, which carries the training's
    summary (a full disk must not read as a lost training)."""
    training = train_project(project, options, on_progress=on_training, cancel=cancel)
    if not predict:
        return NewModel(training, None)
    try:
        return NewModel(training, predict_with_new_model(project, training.model_id, on_predicting, cancel))
    except Cancelled:
        raise
    except Exception as exc:
        raise PredictingFailed(training) from exc
