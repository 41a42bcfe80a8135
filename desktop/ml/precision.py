"""Sorting by precision: how confident a prediction must be before a photo goes to its class folder.

A user asks for "right at least 95 % of the time". What the app knows of a model's precision is its held-out
predictions (out-of-fold for frozen heads, the validation split for fine-tuned ones): for each labelled photo,
the class a model that had not seen it predicted, and the calibrated confidence. Per class c and a candidate
threshold t, the photos predicted c at or above t say how often such a prediction is right — but a first project
has ~20 photos per class, so that share alone is noise (one mistake among ten is 90 %), and a lower confidence
bound on it sorts nothing until a class has dozens of perfect predictions. So the estimate borrows strength:

* the **pooled** precision above t, over every class, is shrunk towards what the calibrated confidences promise
  there (their mean): ``P(t) = (K + m0 · mean confidence) / (N + m0)``;
* a class's own record above t is shrunk towards that pooled figure:
  ``Q_c(t) = (k_c + m1 · P(t)) / (n_c + m1)`` — the mean of a Beta posterior whose prior is worth ``m1`` photos.

The threshold of class c is the lowest confidence whose ``Q_c``, less half its posterior standard deviation
(``SAFETY``), reaches the asked precision: what the class's folder is expected to hold is then at least that
precise. ``Q_c``'s posterior spread is also what the preview reports as how sure the expected number of mistakes
is. Measured on three kinds of photos in ``bench/precision_bench.py``.

numpy only: the sort plans without torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Pseudo-photos: how much the calibrated confidence counts against the pooled record (m0), and the pooled figure
# against one class's own record (m1). Chosen on bench/precision_bench.py's three sets, not on one.
PRIOR_CALIBRATION = 20.0
PRIOR_POOLED = 10.0
# The threshold is the lowest confidence whose estimate is this many of its standard deviations above the target:
# taking the lowest of many noisy estimates that pass would otherwise pick a lucky one (realized precision 1-2
# points under the target at ~20 photos per class; half a deviation brings it back to the target).
SAFETY = 0.5
Z_90 = 1.645  # a two-sided 90 % range for the expected number of mistakes
ENOUGH_PER_CLASS = 20  # below this many labelled photos, "label more" is the first advice for a class


class HeldOutError(ValueError):
    """Held-out predictions that are not what a trainer writes: no promise can rest on them."""


@dataclass(frozen=True)
class HeldOut:
    """Per labelled photo, judged by a model that had not seen it: the predicted class, the given class and the
    calibrated confidence of the prediction. ``source``: "out-of-fold" or "validation"."""

    predicted: np.ndarray  # (N,) int64
    labels: np.ndarray  # (N,) int64
    confidence: np.ndarray  # (N,) float64 in [0, 1]
    class_count: int
    source: str = "out-of-fold"

    @classmethod
    def from_probabilities(cls, probabilities: np.ndarray, labels: Sequence[int] | np.ndarray,
                           source: str = "out-of-fold") -> HeldOut:
        probs = np.asarray(probabilities, dtype=np.float64)
        if probs.ndim != 2:
            raise HeldOutError("held-out probabilities must be a table of photos by classes")
        labels = np.asarray(labels, dtype=np.int64)
        predicted = probs.argmax(1) if len(probs) else np.zeros(0, np.int64)
        confidence = probs.max(1) if len(probs) else np.zeros(0)
        return cls.checked(predicted, labels, confidence, probs.shape[1], source)

    @classmethod
    def checked(cls, predicted: Any, labels: Any, confidence: Any, class_count: Any, source: Any) -> HeldOut:
        try:
            predicted = np.asarray(predicted, dtype=np.int64)
            labels = np.asarray(labels, dtype=np.int64)
            confidence = np.asarray(confidence, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as error:
            raise HeldOutError(f"held-out predictions are not numbers ({error})") from None
        if isinstance(class_count, bool) or not isinstance(class_count, int) or class_count < 1:
            raise HeldOutError("held-out predictions need a positive class count")
        if not (predicted.ndim == labels.ndim == confidence.ndim == 1
                and len(predicted) == len(labels) == len(confidence)):
            raise HeldOutError("held-out predictions, labels and confidences differ in length")
        for values in (predicted, labels):
            if len(values) and (values.min() < 0 or values.max() >= class_count):
                raise HeldOutError("a held-out class index is outside the model's classes")
        if len(confidence) and not (np.isfinite(confidence).all() and confidence.min() >= 0
                                    and confidence.max() <= 1):
            raise HeldOutError("a held-out confidence is not between 0 and 1")
        return cls(predicted, labels, confidence, int(class_count), str(source))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON columns, as the models row keeps them (``metrics["held_out"]``, which adds image ids)."""
        return {"true": self.labels.tolist(), "predicted": self.predicted.tolist(),
                "confidence": [float(c) for c in self.confidence]}  # unrounded: thresholds are these values

    @classmethod
    def from_dict(cls, data: Any, class_count: int, source: str = "out-of-fold") -> HeldOut:
        """From the models row's columns ``true``, ``predicted`` and ``confidence`` (other keys ignored)."""
        if not isinstance(data, dict):
            raise HeldOutError("held-out predictions are not a record")
        confidence = data.get("confidence")
        if not isinstance(confidence, list) or any(c is None for c in confidence):
            raise HeldOutError("held-out confidences are missing")
        return cls.checked(data.get("predicted"), data.get("true"), confidence, class_count, source)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class ClassRule:
    """One class's threshold for a precision, and the evidence behind it."""

    threshold: float | None  # None: no confidence reaches the precision; its photos go to _unsure
    expected_precision: float | None  # Q_c at the threshold (the estimate for photos at or above it)
    evidence: float  # photos' worth behind that estimate: n_c + m1
    held_out_above: int  # held-out photos predicted this class at or above the threshold
    held_out_predicted: int  # held-out photos predicted this class at all
    held_out_right: int  # of those, how many were right
    labelled: int  # labelled photos of this class among the held-out ones
    confused_with: int | None  # the class most often mixed up with this one (either way), if any

    def expected_right(self, confidence: float) -> float:
        """The chance that a new photo sorted into this class at ``confidence`` is right: the estimate for the
        class's photos at or above its threshold as a group, less one deviation — the lowest threshold whose
        estimate passes is picked among many noisy ones, so its own estimate overshoots (by 2-3 points at ~20
        photos per class, as the photo's own confidence does: bench/precision_bench.py)."""
        if self.expected_precision is None:
            return confidence
        return max(0.0, self.expected_precision - self.spread)

    @property
    def spread(self) -> float:
        """The estimate's standard deviation (Beta posterior)."""
        q = self.expected_precision
        return 0.0 if q is None else math.sqrt(max(q * (1 - q), 0.0) / (self.evidence + 1))


def class_rules(held_out: HeldOut, precision: float) -> list[ClassRule]:
    """Per class of the model, the lowest calibrated confidence at which its predictions are expected to be right
    at least ``precision`` of the time (module docstring)."""
    if not 0.0 < precision < 1.0:
        raise ValueError("precision must be between 0 and 1")
    pooled = _Pooled(held_out)
    return [_class_rule(held_out, c, precision, pooled) for c in range(held_out.class_count)]


def thresholds(held_out: HeldOut, precision: float) -> list[float | None]:
    return [rule.threshold for rule in class_rules(held_out, precision)]


class _Pooled:
    """P(t) for any threshold t: every class's held-out record at or above t, shrunk towards its calibration."""

    def __init__(self, held_out: HeldOut) -> None:
        order = np.argsort(-held_out.confidence, kind="stable")
        self.descending = held_out.confidence[order]
        self.right = np.cumsum(held_out.predicted[order] == held_out.labels[order])
        self.promised = np.cumsum(held_out.confidence[order])

    def at(self, threshold: np.ndarray) -> np.ndarray:
        # How many held-out photos have confidence >= t: the index past the last one in descending order.
        n = np.searchsorted(-self.descending, -threshold, side="right")
        safe = np.maximum(n - 1, 0)
        right = np.where(n > 0, self.right[safe], 0)
        promised = np.where(n > 0, self.promised[safe], 0.0)
        mean_confidence = np.where(n > 0, promised / np.maximum(n, 1), threshold)
        return (right + PRIOR_CALIBRATION * mean_confidence) / (n + PRIOR_CALIBRATION)


def _class_rule(held_out: HeldOut, c: int, precision: float, pooled: _Pooled) -> ClassRule:
    rows = np.flatnonzero(held_out.predicted == c)
    order = rows[np.argsort(-held_out.confidence[rows], kind="stable")]
    conf = held_out.confidence[order]
    right = np.cumsum(held_out.labels[order] == c)
    n = np.arange(1, order.size + 1)
    estimate = (right + PRIOR_POOLED * pooled.at(conf)) / (n + PRIOR_POOLED)
    spread = np.sqrt(estimate * (1 - estimate) / (n + PRIOR_POOLED + 1))  # as ClassRule.spread
    # A cut can only fall between different confidences: ties are all kept or all dropped.
    cut = np.append(conf[1:] < conf[:-1], True)
    meets = np.flatnonzero(cut & (estimate - SAFETY * spread >= precision))
    labelled = int((held_out.labels == c).sum())
    base = dict(held_out_predicted=int(order.size), held_out_right=int(right[-1]) if order.size else 0,
                labelled=labelled, confused_with=_confused_with(held_out, c))
    if not meets.size:
        return ClassRule(None, None, PRIOR_POOLED, 0, **base)
    last = int(meets.max())  # the lowest confidence that still meets it
    return ClassRule(float(conf[last]), float(estimate[last]), float(last + 1 + PRIOR_POOLED), last + 1, **base)


def _confused_with(held_out: HeldOut, c: int) -> int | None:
    wrong = held_out.predicted != held_out.labels
    other = np.concatenate([held_out.labels[wrong & (held_out.predicted == c)],
                            held_out.predicted[wrong & (held_out.labels == c)]])
    if not other.size:
        return None
    return int(np.bincount(other, minlength=held_out.class_count).argmax())


@dataclass(frozen=True)
class MistakeEstimate:
    """How many of the photos sorted by prediction are expected in the wrong folder, and a 90 % range."""

    expected: float
    low: int
    high: int
    sorted_by_prediction: int

    @property
    def precision(self) -> float | None:
        n = self.sorted_by_prediction
        return None if n == 0 else 1.0 - self.expected / n


def expected_mistakes(rules: Sequence[ClassRule], sorted_predictions: Sequence[tuple[int, float]]
                      ) -> MistakeEstimate:
    """``sorted_predictions``: (class index, calibrated confidence) of each photo a sort puts in a class folder by
    its prediction. Each is right with ``ClassRule.expected_right`` (its confidence, under a raw threshold); the
    range adds to that chance's own spread the uncertainty of each class's estimate, which moves all of that
    class's photos together."""
    expected, variance = 0.0, 0.0
    per_class: dict[int, int] = {}
    for c, confidence in sorted_predictions:
        p = rules[c].expected_right(confidence) if 0 <= c < len(rules) else confidence
        expected += 1.0 - p
        variance += p * (1.0 - p)
        per_class[c] = per_class.get(c, 0) + 1
    for c, count in per_class.items():
        if 0 <= c < len(rules):
            variance += (count * rules[c].spread) ** 2
    spread = Z_90 * math.sqrt(variance)
    return MistakeEstimate(expected, max(0, math.floor(expected - spread)), math.ceil(expected + spread),
                           len(sorted_predictions))
