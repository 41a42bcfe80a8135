"""Calibration: making "90 %" mean right nine times in ten.

* ``fit_temperature``: temperature scaling (Guo et al. 2017): one scalar T dividing the logits, fitted by
  minimising the negative log-likelihood of held-out (out-of-fold) logits. It changes no prediction, only
  how sure they claim to be.
* ``calibrate``: fits T, and keeps it only where it improves the fit on photos it was not fitted on (T fitted on
  the other folds of the held-out predictions, judged on each fold in turn) and does not raise the calibration
  error it reports: with few photos a temperature can make that error worse, and then the model stays as it was
  and says so.
* ``expected_calibration_error`` and ``reliability``: the gap between confidence and accuracy, over 10 bins
  of confidence (what the Train tab's reliability diagram draws).

Thresholds for a wanted precision live in ``desktop.ml.precision``. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 10
# Sharpening more than 2x would rest on a handful of out-of-fold mistakes (none, on easy data): not trusted.
T_MIN, T_MAX = 0.5, 20.0
CALIBRATION_FOLDS = 5
# The calibration error may rise by this much (noise of 10 bins on a few photos) while the log-loss falls.
ECE_TOLERANCE = 0.002


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def log_loss(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the given classes under softmax(logits / T)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 0.0
    top = z.max(1)
    log_sum = top + np.log(np.exp(z - top[:, None]).sum(1))
    return float(np.mean(log_sum - z[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in [T_MIN, T_MAX] minimising the NLL of softmax(logits / T); 1.0 without data.

    The NLL is convex in beta = 1/T, so its derivative mean(E_softmax[z] - z_label) is increasing in beta and
    bisection finds the minimum to machine precision (no torch, no step size)."""
    z = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0 or not np.isfinite(z).all():
        return 1.0
    given = z[np.arange(len(labels)), labels]

    def slope(beta: float) -> float:
        p = softmax(z, 1.0 / beta).astype(np.float64)
        return float(np.mean((p * z).sum(1) - given))

    low, high = 1.0 / T_MAX, 1.0 / T_MIN
    if slope(low) >= 0:
        return T_MAX
    if slope(high) <= 0:
        return T_MIN
    for _ in range(60):
        middle = 0.5 * (low + high)
        if slope(middle) > 0:
            high = middle
        else:
            low = middle
    return float(1.0 / (0.5 * (low + high)))


@dataclass(frozen=True)
class Calibration:
    """The temperature a model keeps and how the held-out fit looks without it and with it. ``ece_after`` and
    ``probabilities`` are what the model reports and stores (its reliability diagram, its precision thresholds),
    so every figure shown agrees with them; the cross-fitted log-loss is what decided."""

    temperature: float  # 1.0 when not kept
    kept: bool
    log_loss_before: float
    log_loss_after: float  # cross-fitted: each photo with a T fitted without it
    ece_before: float
    ece_after: float  # with the kept temperature; equals ece_before when not kept
    probabilities: np.ndarray  # (N, C) with the kept temperature

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "kept": self.kept,
                "log_loss_before": round(self.log_loss_before, 5), "log_loss_after": round(self.log_loss_after, 5),
                "ece_before": round(self.ece_before, 5), "ece_after": round(self.ece_after, 5)}


def calibrate(logits: np.ndarray, labels: np.ndarray, folds: np.ndarray | None = None) -> Calibration:
    """Fit a temperature on held-out ``logits`` and keep it only if, fitted on the other folds, it lowers both
    the log-loss and (beyond noise) the calibration error of each fold. ``folds``: fold per row (the
    cross-validation's); None: rows dealt into CALIBRATION_FOLDS in turn."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    plain = softmax(logits) if len(labels) else np.zeros(logits.shape, np.float32)
    before_loss, before_ece = log_loss(logits, labels), expected_calibration_error(plain, labels)
    if len(labels) < 2:
        return Calibration(1.0, False, before_loss, before_loss, before_ece, before_ece, plain)
    folds = np.arange(len(labels)) % CALIBRATION_FOLDS if folds is None else np.asarray(folds)
    crossed = np.zeros(logits.shape, np.float64)
    for fold in np.unique(folds):
        inside = folds == fold
        others = fit_temperature(logits[~inside], labels[~inside]) if (~inside).any() else 1.0
        crossed[inside] = logits[inside] / others
    after_loss = log_loss(crossed, labels)
    after_ece = expected_calibration_error(softmax(crossed), labels)
    kept = after_loss < before_loss and after_ece <= before_ece + ECE_TOLERANCE
    if kept:
        temperature = fit_temperature(logits, labels)
        calibrated = softmax(logits, temperature)
        ece = expected_calibration_error(calibrated, labels)
        if ece <= before_ece:  # what the Train tab will show must not read "worse after calibration"
            return Calibration(temperature, True, before_loss, after_loss, before_ece, ece, calibrated)
    return Calibration(1.0, False, before_loss, after_loss, before_ece, before_ece, plain)


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin [i/10, (i+1)/10): how many predictions, their mean confidence, their accuracy."""

    counts: list[int]
    confidence: list[float | None]  # None for an empty bin
    accuracy: list[float | None]
    ece: float

    def to_dict(self) -> dict:
        return {"counts": self.counts, "confidence": self.confidence, "accuracy": self.accuracy, "ece": self.ece}


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Reliability:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return Reliability([0] * bins, [None] * bins, [None] * bins, 0.0)
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    counts, mean_conf, accuracy, gap = [], [], [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        counts.append(n)
        if n:
            c, a = float(confidence[inside].mean()), float(correct[inside].mean())
            mean_conf.append(round(c, 4))
            accuracy.append(round(a, 4))
            gap += n * abs(c - a)
        else:
            mean_conf.append(None)
            accuracy.append(None)
    return Reliability(counts, mean_conf, accuracy, gap / len(labels))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by how many predictions each holds."""
    return reliability(probabilities, labels, bins).ece
