"""Finding likely label mistakes (confident learning, Northcutt et al. 2021), on frozen backbone features.

1. Out-of-fold probabilities: the photos are split into k stratified folds; for each fold a linear head is
   trained on the others, exactly as frozen-mode training trains it (``trainer.fit_linear_head``), and predicts
   it, so no photo is judged by a model that saw its label.
2. Per-class thresholds t_j: the mean out-of-fold probability of class j over the photos labelled j (how sure
   the model typically is about that class).
3. A photo labelled i is a suspect when p_i < t_i and some other class k has p_k >= t_k; it is ranked by how
   much more likely the best such class is than the given one (p_k - p_i), biggest first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from desktop.ml.progress import CancelToken, check_cancel
from desktop.ml.trainer import TrainConfig, fit_linear_head


@dataclass(frozen=True)
class Suspect:
    index: int  # into the rows given
    suggested: int  # the class the photo more likely belongs to
    score: float  # p(suggested) - p(given): the higher, the likelier the label is wrong


def stratified_folds(labels: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold number per row, each class spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        rng.shuffle(rows)
        folds[rows] = np.arange(len(rows)) % k
    return folds


def out_of_fold_probabilities(features: np.ndarray, labels: np.ndarray, num_classes: int, k: int = 5,
                              seed: int = 0, cancel: CancelToken | None = None) -> np.ndarray:
    """(N, C) probabilities, each row from a head that did not see that row."""
    labels = np.asarray(labels)
    smallest = np.bincount(labels, minlength=num_classes)[np.bincount(labels, minlength=num_classes) > 0].min()
    k = int(max(2, min(k, smallest)))
    folds = stratified_folds(labels, k, seed)
    probabilities = np.zeros((len(labels), num_classes), dtype=np.float32)
    for fold in range(k):
        check_cancel(cancel)
        held_out = folds == fold
        head = fit_linear_head(features[~held_out], labels[~held_out], num_classes,
                               TrainConfig(seed=seed + fold, device="cpu"), cancel)
        with torch.no_grad():
            probabilities[held_out] = head(torch.from_numpy(features[held_out].astype(np.float32))).softmax(1).numpy()
    return probabilities


def rank_suspects(probabilities: np.ndarray, labels: np.ndarray) -> list[Suspect]:
    """Photos whose given label is likely wrong, most suspicious first (see the module docstring)."""
    labels = np.asarray(labels)
    num_classes = probabilities.shape[1]
    thresholds = np.array([probabilities[labels == j, j].mean() if (labels == j).any() else 1.0
                           for j in range(num_classes)])
    given = probabilities[np.arange(len(labels)), labels]
    suspects = []
    for index in np.flatnonzero(given < thresholds[labels]).tolist():
        others = probabilities[index].copy()
        others[labels[index]] = -1.0
        confident = np.flatnonzero(others >= thresholds)
        if confident.size == 0:
            continue
        best = int(confident[np.argmax(others[confident])])
        suspects.append(Suspect(index, best, float(others[best] - given[index])))
    return sorted(suspects, key=lambda s: -s.score)
