"""Calibration: making "90 %" mean right nine times in ten, and thresholds for a wanted precision.

* ``fit_temperature``: temperature scaling (Guo et al. 2017): one scalar T dividing the logits, fitted by
  minimising the negative log-likelihood of held-out (out-of-fold) logits. It changes no prediction, only
  how sure they claim to be.
* ``expected_calibration_error`` and ``reliability``: the gap between confidence and accuracy, over 10 bins
  of confidence (what the Train tab's reliability diagram draws).
* ``thresholds_for_precision``: per class, the lowest confidence above which the held-out predictions of
  that class were right at least the asked share of the time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

BINS = 10
# Sharpening more than 2x would rest on a handful of out-of-fold mistakes (none, on easy data): not trusted.
T_MIN, T_MAX = 0.5, 20.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T); 1.0 without data."""
    if len(labels) == 0:
        return 1.0
    z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)  # T = exp(log_t) stays positive
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    return float(np.clip(temperature, T_MIN, T_MAX)) if np.isfinite(temperature) else 1.0


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


def thresholds_for_precision(oof_probs: np.ndarray, labels: np.ndarray, precision: float,
                             z: float = 2.0) -> list[float | None]:
    """Per class c, the lowest confidence t such that held-out photos predicted c with confidence >= t were
    labelled c at least ``precision`` of the time; None where no threshold reaches it. Sorting a photo only when
    its confidence passes its class's threshold then keeps the share of wrongly sorted photos under
    1 - ``precision``. So that a few lucky held-out photos do not promise what new photos won't keep, the
    precision counted is the observed share's lower confidence bound (Wilson score, ``z`` standard errors below
    it), and the threshold goes down from the most confident photo only while that bound holds (the first stretch
    where it does, not the farthest point where chance lifts it back).

    ``oof_probs``: calibrated out-of-fold probabilities (N, C); ``labels``: the given classes (N,).
    """
    probs = np.asarray(oof_probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    predicted = probs.argmax(1) if len(labels) else np.zeros(0, np.int64)
    confidence = probs.max(1) if len(labels) else np.zeros(0)
    thresholds: list[float | None] = []
    for c in range(probs.shape[1]):
        rows = np.flatnonzero(predicted == c)
        order = rows[np.argsort(-confidence[rows], kind="stable")]
        conf = confidence[order]
        n = np.arange(1, order.size + 1)
        holds = wilson_lower_bound(np.cumsum(labels[order] == c), n, z) >= precision
        first = int(np.argmax(holds)) if holds.any() else None
        if first is None:
            thresholds.append(None)
            continue
        fails = np.flatnonzero(~holds[first:])
        end = first + (int(fails[0]) if fails.size else holds.size - first)  # the stretch is order[first:end]
        # A cut can only fall between different confidences: ties are all kept or all dropped.
        cut = np.append(conf[1:] < conf[:-1], True)
        ok = np.flatnonzero(cut[first:end])
        thresholds.append(float(conf[first + ok.max()]) if ok.size else None)
    return thresholds


def wilson_lower_bound(successes: np.ndarray, trials: np.ndarray, z: float = 1.0) -> np.ndarray:
    """Lower end of the Wilson score interval for a share successes/trials."""
    n = np.asarray(trials, dtype=np.float64)
    p = np.asarray(successes, dtype=np.float64) / np.maximum(n, 1)
    if z == 0:
        return p
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)
