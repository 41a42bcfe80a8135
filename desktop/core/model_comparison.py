"""Comparing model versions fairly: every model scored on the *current* validation photos.

Each model's stored val_accuracy was measured on the validation photos of its day; once photos are added
the numbers no longer compare. This re-scores each model on today's validation split (frozen-mode models
reuse the feature cache, so this takes seconds). Photos of classes a model does not know are left out of
its score and counted. Imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from desktop.core.models_registry import list_models
from desktop.core.project import Project
from desktop.core.training import gather_training_data
from desktop.errors import PigeonholeError
from desktop.ml.predict import Predictor
from desktop.ml.progress import CancelToken, check_cancel
from desktop.ml.splits import VAL


@dataclass(frozen=True)
class VersionScore:
    model_id: int
    accuracy: float | None  # None when none of today's validation photos belong to this model's classes
    scored: int  # validation photos scored
    unknown_class: int  # validation photos of classes this model was not trained on
    problem: str | None = None  # why it could not be scored (e.g. its file is missing)


@dataclass(frozen=True)
class ComparisonProgress:
    done: int  # models scored so far
    total: int
    model_id: int


def score_versions(project: Project, model_ids: Sequence[int] | None = None,
                   on_progress: Callable[[ComparisonProgress], None] | None = None,
                   cancel: CancelToken | None = None) -> list[VersionScore]:
    data = gather_training_data(project)
    val = [item for item in data.items if item.split == VAL]
    models = [m for m in list_models(project) if model_ids is None or m.id in model_ids]
    scores = []
    for done, model in enumerate(models):
        check_cancel(cancel)
        known = {name: index for index, name in enumerate(model.class_names)}
        usable = [item for item in val if data.class_names[item.label] in known]
        if not usable:
            scores.append(VersionScore(model.id, None, 0, len(val)))
            continue
        try:
            predictor = Predictor.from_checkpoint(model.file)
        except PigeonholeError as error:
            scores.append(VersionScore(model.id, None, 0, len(val) - len(usable), str(error)))
            continue
        probabilities = predictor.predict_paths(
            [i.path for i in usable], content_hashes=[i.content_hash for i in usable],
            cache_dir=project.cache_dir / "features", cancel=cancel)
        targets = np.array([known[data.class_names[i.label]] for i in usable])
        readable = ~np.isnan(probabilities).any(axis=1)
        correct = probabilities[readable].argmax(axis=1) == targets[readable]
        scores.append(VersionScore(model.id, float(correct.mean()) if readable.any() else None, int(readable.sum()),
                                   len(val) - len(usable)))
        if on_progress is not None:
            on_progress(ComparisonProgress(done + 1, len(models), model.id))
    return scores
