"""The frozen head's logistic regression and cross-validation, numpy and scipy only (desktop.ml.crossval)."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from desktop.ml.calibration import softmax
from desktop.ml.crossval import LinearWeights, cross_validate, fit_linear_weights, fit_logistic
from desktop.ml.options import TrainingOptions
from desktop.progress import Cancelled


def blobs(seed: int, per_class: int = 20, classes: int = 3, dim: int = 16, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3 + 5  # far from zero mean: the standardisation must be folded in
    labels = np.repeat(np.arange(classes), per_class)
    return (centres[labels] + rng.normal(size=(len(labels), dim)) * spread).astype(np.float32), labels


def evaluations(*args, **kwargs) -> tuple[LinearWeights, list[tuple[int, float, float]]]:
    seen: list[tuple[int, float, float]] = []
    head = fit_logistic(*args, **kwargs, on_iteration=lambda *record: seen.append(record))
    return head, seen


def test_the_head_takes_raw_features_as_float32_numpy():
    x, y = blobs(0)
    test_x, test_y = blobs(0, spread=1.5)
    head, seen = evaluations(x, y, 3, 0.1)
    assert head.weight.dtype == head.bias.dtype == np.float32
    assert head.weight.shape == (3, 16) and head.bias.shape == (3,)
    logits = head.logits(test_x)
    assert isinstance(logits, np.ndarray) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, test_x @ head.weight.T + head.bias, rtol=1e-6)
    assert (logits.argmax(1) == test_y).mean() > 0.9
    # One call per evaluation of the loss, numbered from 1; the loss falls and the rows end up learnt.
    assert [i for i, _, _ in seen] == list(range(1, len(seen) + 1))
    assert seen[0][1] == pytest.approx(np.log(3))  # from zero weights: every class 1/3
    assert seen[-1][1] < seen[0][1] / 2 and seen[-1][2] == 1.0


def test_it_converges_to_the_minimum_whatever_the_start():
    x, y = blobs(1, spread=2.0)
    cold = fit_logistic(x, y, 3, 0.03)
    elsewhere = LinearWeights(np.random.default_rng(2).normal(size=(3, 16)).astype(np.float32),
                              np.ones(3, np.float32))
    warm = fit_logistic(x, y, 3, 0.03, init=elsewhere)
    # The same probabilities (the logits may differ by a constant per photo: the mean bias is free).
    np.testing.assert_allclose(softmax(warm.logits(x)), softmax(cold.logits(x)), atol=1e-4)


def test_a_warm_start_from_the_answer_stops_almost_at_once():
    x, y = blobs(3, spread=2.0)
    cold, cold_seen = evaluations(x, y, 3, 0.1)
    warm, warm_seen = evaluations(x, y, 3, 0.1, init=cold)
    assert len(warm_seen) <= 3 < len(cold_seen)
    assert warm_seen[0][1] == pytest.approx(cold_seen[-1][1], abs=1e-6)  # the start is the answer, unfolded
    np.testing.assert_allclose(softmax(warm.logits(x)), softmax(cold.logits(x)), atol=1e-4)


def test_max_iterations_caps_the_fit():
    x, y = blobs(4, spread=2.0)
    _, full = evaluations(x, y, 3, 0.01)
    _, capped = evaluations(x, y, 3, 0.01, max_iterations=2)
    assert len(capped) < len(full) and capped[-1][1] > full[-1][1]


def test_class_weights_give_a_rare_class_its_share():
    rng = np.random.default_rng(5)
    labels = np.array([0] * 60 + [1] * 6)
    x = (rng.normal(size=(66, 4)) + labels[:, None] * 1.0).astype(np.float32)  # overlapping classes
    balanced = fit_logistic(x, labels, 2, 0.1, balance=True).logits(x).argmax(1)
    plain = fit_logistic(x, labels, 2, 0.1, balance=False).logits(x).argmax(1)
    assert (balanced == 1).sum() > (plain == 1).sum()
    # A class absent from the rows weighs nothing and is never predicted over the present ones.
    absent = fit_logistic(x, labels, 3, 0.1).logits(x)
    assert (absent.argmax(1) != 2).all()


def test_the_same_rows_give_bit_identical_weights():
    x, y = blobs(6, spread=2.0)
    first, again = fit_logistic(x, y, 3, 0.01), fit_logistic(x.copy(), y.copy(), 3, 0.01)
    assert np.array_equal(first.weight, again.weight) and np.array_equal(first.bias, again.bias)
    cv, cv_again = cross_validate(x, y, 3, grid=(0.01, 1.0)), cross_validate(x, y, 3, grid=(0.01, 1.0))
    assert cv.l2 == cv_again.l2 and np.array_equal(cv.oof_logits, cv_again.oof_logits)


def test_what_on_iteration_raises_ends_the_fit():
    x, y = blobs(7)
    seen = []

    def cancel_at_third(i: int, loss: float, accuracy: float) -> None:
        seen.append(i)
        if i == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        fit_logistic(x, y, 3, 0.1, on_iteration=cancel_at_third)
    assert seen == [1, 2, 3]


def test_cross_validation_stops_at_a_cancel():
    x, y = blobs(8)
    cancel, steps = threading.Event(), []

    def on_step(done: int, total: int) -> None:
        steps.append(done)
        if done == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        cross_validate(x, y, 3, cancel=cancel, on_step=on_step)
    assert steps == [1, 2]


def test_fit_linear_weights_takes_views_and_chooses_its_strength():
    x, y = blobs(9, per_class=10)
    both = np.stack([x, x[:, ::-1]], 1)
    head = fit_linear_weights(both, y, 3, TrainingOptions(epochs=20))
    assert head.weight.shape == (3, 16) and (head.logits(x).argmax(1) == y).mean() > 0.9
    assert np.array_equal(head.weight, fit_linear_weights(both, y, 3, TrainingOptions(epochs=20)).weight)
    fixed = fit_linear_weights(x, y.tolist(), 3, l2=0.1)
    assert np.array_equal(fixed.weight, fit_logistic(x, y, 3, 0.1).weight)


def test_fitting_never_imports_torch():
    code = ("import sys; sys.modules['torch'] = None; import numpy as np\n"
            "from desktop.ml.crossval import cross_validate, fit_logistic\n"
            "rng = np.random.default_rng(0); y = np.repeat(np.arange(2), 10)\n"
            "x = (rng.normal(size=(20, 4)) + y[:, None]).astype(np.float32)\n"
            "cv = cross_validate(x, y, 2, grid=(0.1,)); fit_logistic(x, y, 2, cv.l2)\n"
            "print(sorted(m for m in sys.modules if m.startswith('torch') and sys.modules[m] is not None))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
