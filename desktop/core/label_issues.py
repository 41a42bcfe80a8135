"""Which labels are likely wrong: the project side of ``desktop.ml.label_issues``.

Uses the pretrained features of the active model's backbone (from the cache training fills), so it takes
seconds on a trained project; out-of-fold heads keep each photo's own label from vouching for itself.
Imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop.core.collection_features import backbone_features, project_backbone
from desktop.core.project import Project
from desktop.core.training import gather_training_data
from desktop.ml.features import ORIGINAL
from desktop.ml.label_issues import out_of_fold_probabilities, rank_suspects
from desktop.progress import CancelToken


@dataclass(frozen=True)
class LabelIssue:
    image_id: int
    path: Path
    label: str  # given
    suggested: str
    score: float  # the calibrated out-of-fold probability that the label is wrong
    probabilities: dict[str, float]
    likely: bool  # among the few to look at first: the model is at least 90 % sure the label is wrong


def find_label_issues(project: Project, n: int | None = None, on_progress: Callable | None = None,
                      cancel: CancelToken | None = None, folds: int = 5) -> list[LabelIssue]:
    """Labelled photos whose label is likely wrong, most suspicious first; the ``likely`` ones lead (the model
    is at least 90 % sure), the rest are less typical of their class than its average photo."""
    data = gather_training_data(project)
    backbone = project_backbone(project)
    items = data.items
    feature_set = backbone_features(project, [i.path for i in items], [i.content_hash for i in items], backbone,
                                    on_progress, cancel)
    keep = np.flatnonzero(feature_set.ok)
    features = feature_set.features[keep, ORIGINAL]
    labels = np.array([items[i].label for i in keep])
    probabilities = out_of_fold_probabilities(features, labels, len(data.class_names), k=folds, cancel=cancel)
    issues = []
    for suspect in rank_suspects(probabilities, labels)[:n]:
        item = items[keep[suspect.index]]
        issues.append(LabelIssue(item.key, Path(item.path), data.class_names[item.label],
                                 data.class_names[suspect.suggested], round(suspect.score, 6),
                                 {name: round(float(p), 6) for name, p in
                                  zip(data.class_names, probabilities[suspect.index], strict=True)},
                                 suspect.likely))
    return issues
