"""Held-out predictions of a perfectly calibrated model, by construction: labels drawn from softmax(logits)."""

from __future__ import annotations

import numpy as np

from desktop.ml.calibration import softmax


def calibrated_logits(count: int, seed: int, classes: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(logits (count, classes), labels): each label drawn from the softmax of its row."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(count, classes)) * scale
    labels = (softmax(logits).cumsum(1) < rng.random((count, 1))).sum(1)
    return logits, np.minimum(labels, classes - 1)
