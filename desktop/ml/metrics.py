"""Classification metrics of predictions against true labels (numpy only: the CPU build computes them too)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ClassificationMetrics:
    count: int
    accuracy: float
    balanced_accuracy: float  # mean recall over classes that have samples: fair under class imbalance
    macro_f1: float
    precision: list[float]  # per class, in class order
    recall: list[float]
    f1: list[float]
    support: list[int]  # true samples per class
    confusion: list[list[int]]  # confusion[true][predicted]
    top_k: int | None  # 5 with more than 5 classes, 3 with 4-5 classes, None otherwise
    top_k_accuracy: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def top_k_for(num_classes: int) -> int | None:
    for k in (5, 3):
        if num_classes > k:
            return k
    return None


def classification_metrics(targets: np.ndarray, probabilities: np.ndarray, num_classes: int) -> ClassificationMetrics:
    """Metrics of predictions (argmax of ``probabilities``) against ``targets``; zero when undefined."""
    targets = np.asarray(targets, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    count = int(targets.shape[0])
    predicted = probabilities.argmax(1) if count else np.zeros(0, np.int64)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    true_positive = np.diag(confusion).astype(np.float64)
    support = confusion.sum(1)
    predicted_count = confusion.sum(0)
    precision = np.divide(true_positive, predicted_count, out=np.zeros(num_classes), where=predicted_count > 0)
    recall = np.divide(true_positive, support, out=np.zeros(num_classes), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(num_classes), where=denominator > 0)
    present = support > 0
    k = top_k_for(num_classes)
    top_k_accuracy = None
    if k is not None and count:
        top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        top_k_accuracy = float((top == targets[:, None]).any(1).mean())
    return ClassificationMetrics(
        count=count,
        accuracy=float(true_positive.sum() / count) if count else 0.0,
        balanced_accuracy=float(recall[present].mean()) if present.any() else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        precision=precision.tolist(), recall=recall.tolist(), f1=f1.tolist(),
        support=support.astype(int).tolist(), confusion=confusion.tolist(),
        top_k=k, top_k_accuracy=top_k_accuracy,
    )
