"""Finding likely label mistakes on frozen backbone features, from out-of-fold predictions.

1. Out-of-fold probabilities: the same cross-validated logistic regression as frozen-mode training
   (``crossval.cross_validate``: stratified folds, L2 chosen by out-of-fold log-loss), calibrated by temperature
   scaling, so no photo is judged by a head that saw its label.
2. Per-class thresholds t_j (confident learning, Northcutt et al. 2021): the mean out-of-fold probability of
   class j over the photos labelled j (how sure the model typically is about that class).
3. A photo labelled i is a suspect when p_i < t_i; suspects are ranked by self-confidence (the lowest p_i
   first: measured better than ranking by the margin to another class), and the most likely other class is
   suggested.
4. The few to look at first (``Suspect.likely``): the calibrated out-of-fold probability that the label is wrong,
   1 - p_i, is at least ``LIKELY_WRONG``. The suspects of step 3 are a fifth to a third of a clean set (any photo less
   typical than its class's average); this bar keeps 2-5 % of clean sets (tuxpaint clip art in 6 categories,
   Fashion-MNIST) and, with 10 % of the labels flipped, holds 85-94 % of the flips in a list about their size
   (``bench/label_review_bench.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from desktop.ml.calibration import fit_temperature, softmax
from desktop.ml.crossval import cross_validate, stratified_folds  # noqa: F401 (stratified_folds: re-exported)
from desktop.progress import CancelToken

LIKELY_WRONG = 0.9  # the model, not having seen the label, is at least this sure it is wrong


@dataclass(frozen=True)
class Suspect:
    index: int  # into the rows given
    suggested: int  # the class the photo more likely belongs to
    score: float  # 1 - p(given): the higher, the likelier the label is wrong

    @property
    def likely(self) -> bool:
        """Among the few to look at first (step 4 of the module docstring)."""
        return self.score >= LIKELY_WRONG


def out_of_fold_probabilities(features: np.ndarray, labels: np.ndarray, num_classes: int, k: int = 5,
                              seed: int = 0, cancel: CancelToken | None = None) -> np.ndarray:
    """(N, C) calibrated probabilities, each row from a head that did not see that row."""
    labels = np.asarray(labels)
    cv = cross_validate(np.asarray(features, np.float32), labels, num_classes, folds=k, seed=seed, cancel=cancel)
    return softmax(cv.oof_logits, fit_temperature(cv.oof_logits, labels))


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
        suspects.append(Suspect(index, int(np.argmax(others)), float(1.0 - given[index])))
    return sorted(suspects, key=lambda s: (-s.score, s.index))
