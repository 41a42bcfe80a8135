"""Comparing model versions fairly: every version scored on *today's* labelled photos, the same way.

Each model's stored accuracy was measured on the photos of its day; once photos are added the numbers no longer
compare. And a frozen-mode model is trained on every labelled photo, so no photo of today is unseen by it. So:

* frozen-mode versions are scored by the same k-fold folds over today's labelled photos (seed 0): each fold's
  head is refitted with that version's backbone (cached features) and its regularisation, and the out-of-fold
  accuracy is what the version's recipe achieves on today's data — the number a retrain would report;
* fine-tuned versions (a backbone that cannot be refitted in seconds) are scored on today's validation split,
  which fine-tuning never trains on.

Photos of classes a model does not know are left out of its score and counted. Imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from desktop.core.collection_features import backbone_features
from desktop.core.models_registry import ModelInfo, list_models
from desktop.core.project import Project
from desktop.core.training import TrainingData, gather_training_data
from desktop.errors import PigeonholeError
from desktop.ml.crossval import L2_GRID, cross_validate
from desktop.ml.features import ORIGINAL
from desktop.ml.predict import Predictor
from desktop.ml.splits import VAL
from desktop.progress import CancelToken, check_cancel

OUT_OF_FOLD, VALIDATION = "out-of-fold", "validation"
COMPARISON_SEED = 0  # the folds every version is scored on


@dataclass(frozen=True)
class VersionScore:
    model_id: int
    accuracy: float | None  # None when none of today's photos belong to this model's classes
    scored: int  # photos scored
    unknown_class: int  # photos of classes this model was not trained on
    problem: str | None = None  # why it could not be scored (e.g. its file is missing)
    method: str = OUT_OF_FOLD  # OUT_OF_FOLD (today's labelled photos, the same folds) or VALIDATION (today's split)


@dataclass(frozen=True)
class ComparisonProgress:
    done: int  # models scored so far
    total: int
    model_id: int


def score_versions(project: Project, model_ids: Sequence[int] | None = None,
                   on_progress: Callable[[ComparisonProgress], None] | None = None,
                   cancel: CancelToken | None = None) -> list[VersionScore]:
    data = gather_training_data(project)
    models = [m for m in list_models(project) if model_ids is None or m.id in model_ids]
    scores = []
    for done, model in enumerate(models):
        check_cancel(cancel)
        if model.mode == "frozen":
            scores.append(_score_out_of_fold(project, data, model, cancel))
        else:
            scores.append(_score_on_validation_split(project, data, model, cancel))
        if on_progress is not None:
            on_progress(ComparisonProgress(done + 1, len(models), model.id))
    return scores


def _score_out_of_fold(project: Project, data: TrainingData, model: ModelInfo,
                       cancel: CancelToken | None) -> VersionScore:
    known = {name: index for index, name in enumerate(model.class_names)}
    usable = [item for item in data.items if data.class_names[item.label] in known]
    unknown = len(data.items) - len(usable)
    labels = np.array([known[data.class_names[i.label]] for i in usable], dtype=np.int64)
    if not model.file.is_file():  # a version that cannot be used any more is not worth comparing
        return VersionScore(model.id, None, 0, unknown, f"The model file {model.file} does not exist.")
    if len(np.unique(labels)) < 2:
        return VersionScore(model.id, None, 0, unknown)
    try:
        feature_set = backbone_features(project, [i.path for i in usable], [i.content_hash for i in usable],
                                        model.backbone, cancel=cancel)
    except PigeonholeError as error:  # e.g. the backbone's weights are gone
        return VersionScore(model.id, None, 0, unknown, str(error))
    ok = feature_set.ok
    l2 = model.settings.get("training", {}).get("l2")
    cv = cross_validate(feature_set.features[ok, ORIGINAL], labels[ok], len(model.class_names),
                        grid=(l2,) if isinstance(l2, float) else L2_GRID, seed=COMPARISON_SEED, cancel=cancel)
    correct = cv.oof_logits.argmax(1) == labels[ok]
    return VersionScore(model.id, float(correct.mean()), int(ok.sum()), unknown)


def _score_on_validation_split(project: Project, data: TrainingData, model: ModelInfo,
                               cancel: CancelToken | None) -> VersionScore:
    val = [item for item in data.items if item.split == VAL]
    known = {name: index for index, name in enumerate(model.class_names)}
    usable = [item for item in val if data.class_names[item.label] in known]
    if not usable:
        return VersionScore(model.id, None, 0, len(val), method=VALIDATION)
    try:
        predictor = Predictor.from_checkpoint(model.file)
    except PigeonholeError as error:
        return VersionScore(model.id, None, 0, len(val) - len(usable), str(error), VALIDATION)
    probabilities = predictor.predict_paths(
        [i.path for i in usable], content_hashes=[i.content_hash for i in usable],
        cache_dir=project.cache_dir / "features", cancel=cancel)
    targets = np.array([known[data.class_names[i.label]] for i in usable])
    readable = ~np.isnan(probabilities).any(axis=1)
    correct = probabilities[readable].argmax(axis=1) == targets[readable]
    return VersionScore(model.id, float(correct.mean()) if readable.any() else None, int(readable.sum()),
                        len(val) - len(usable), method=VALIDATION)
