"""Calibration: temperature scaling, the calibration error, and per-class thresholds for a wanted precision."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.ml.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability,
    softmax,
    thresholds_for_precision,
)


def calibrated_sample(count: int, seed: int, classes: int = 4, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): a perfectly calibrated model by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(count, classes)) * scale
    probabilities = softmax(logits)
    labels = (probabilities.cumsum(1) < rng.random((count, 1))).sum(1)
    return logits, np.minimum(labels, classes - 1)


def test_temperature_scaling_repairs_an_over_confident_model():
    logits, labels = calibrated_sample(4000, seed=0)
    over_confident = logits * 5  # same predictions, claimed far surer
    before = expected_calibration_error(softmax(over_confident), labels)
    temperature = fit_temperature(over_confident, labels)
    after = expected_calibration_error(softmax(over_confident, temperature), labels)
    assert temperature == pytest.approx(5.0, rel=0.15)
    assert before > 0.15 and after < 0.05 and after < before / 4
    assert (softmax(over_confident, temperature).argmax(1) == over_confident.argmax(1)).all()


def test_temperature_without_data_is_one():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, np.int64)) == 1.0


def test_reliability_bins():
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.55, 0.45]])
    labels = np.array([0, 1, 0, 0])
    result = reliability(probabilities, labels)
    assert result.counts[9] == 2 and result.counts[5] == 2 and sum(result.counts) == 4
    assert result.accuracy[9] == 0.5 and result.accuracy[5] == 1.0 and result.confidence[2] is None
    assert result.ece == pytest.approx((2 * 0.45 + 2 * 0.45) / 4)


@pytest.mark.parametrize("precision", [0.9, 0.95])
def test_thresholds_meet_the_asked_precision_on_held_out_photos(precision):
    logits, labels = calibrated_sample(4000, seed=1, scale=3.0)
    thresholds = thresholds_for_precision(softmax(logits), labels, precision)
    assert all(t is not None and 0.5 < t < 1 for t in thresholds)
    held_out_logits, held_out_labels = calibrated_sample(20000, seed=2, scale=3.0)
    probabilities = softmax(held_out_logits)
    predicted, confidence = probabilities.argmax(1), probabilities.max(1)
    achieved = []
    for c, threshold in enumerate(thresholds):
        sorted_as_c = (predicted == c) & (confidence >= threshold)
        assert sorted_as_c.sum() > 500  # a threshold that sorts next to nothing would be no use
        achieved.append((held_out_labels[sorted_as_c] == c).mean())
    # Each class within sampling noise of the target (a few hundred held-out photos: ±0.01), all of them above it.
    assert min(achieved) >= precision - 0.01 and np.mean(achieved) >= precision, achieved


def test_a_class_never_precise_enough_gets_no_threshold():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    labels = np.array([1, 1, 1, 1])  # everything predicted as class 0 is wrong
    thresholds = thresholds_for_precision(probabilities, labels, 0.9, z=0)
    assert thresholds[0] is None and thresholds[1] == pytest.approx(0.6)
