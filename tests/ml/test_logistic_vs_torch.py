"""The numpy/scipy logistic regression (desktop.ml.crossval) against the torch fit it replaced, kept here as the
reference: the same objective minimised by torch's L-BFGS (strong Wolfe) in float32. The tolerance crossval's
docstring states: probabilities within 5e-3 of torch's (within 2e-4 on Gaussian classes; up to 3.2e-3 measured on
Fashion-MNIST pixels, nearly all of it torch's float32 stop: its fits there lie up to 2.5e-3 from the exact
minimiser, ours within 1e-3), the same class wherever torch's top two are further apart than that, a minimum at
least as low as torch's, and the same L2 chosen by cross-validation."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from bench import fashion_mnist
from desktop.ml import crossval
from desktop.ml.calibration import softmax
from desktop.ml.crossval import LinearWeights, cross_validate, fit_logistic

PROBABILITY_TOLERANCE = 5e-3  # against torch's fit
EXACT_TOLERANCE = 1e-3  # against the exact minimiser (a fit run to machine tolerance)


def torch_fit_logistic(features, labels, num_classes, l2, *, balance=True, max_iterations=crossval.MAX_ITERATIONS,
                       init=None, on_iteration=None) -> LinearWeights:
    """desktop/ml/crossval.py's fit_logistic before the numpy rewrite (commit ce0d8c6), returning numpy."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    mean, std = x.mean(0), x.std(0, unbiased=False)
    std = std.clamp_min(float(std.mean()) + 1e-6)
    z = (x - mean) / std
    weight, bias = torch.zeros(num_classes, x.shape[1]), torch.zeros(num_classes)
    if init is not None:
        init_weight, init_bias = torch.as_tensor(init.weight), torch.as_tensor(init.bias)
        weight, bias = (init_weight * std).clone(), (init_bias + init_weight @ mean).clone()
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    class_weight = torch.tensor(crossval.class_weights(y.numpy(), num_classes), dtype=torch.float32)
    criterion = nn.CrossEntropyLoss(weight=class_weight if balance else None)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iterations, history_size=20,
                                  tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = criterion(z @ weight.T + bias, y) + 0.5 * l2 * (weight * weight).sum()
        loss.backward()
        return loss

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        optimizer.step(closure)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        raw = weight / std
        return LinearWeights(raw.numpy().copy(), (bias - raw @ mean).numpy().copy())


def torch_log_loss(logits, labels) -> float:
    return float(nn.functional.cross_entropy(torch.from_numpy(np.asarray(logits, np.float32)),
                                             torch.from_numpy(np.asarray(labels, np.int64))))


def objective(head: LinearWeights, features, labels, num_classes, l2, balance=True) -> float:
    """The loss both fits minimise, in float64, for a head on raw features."""
    _, std = crossval.standardisation(features)
    weight = np.asarray(head.weight, np.float64) * std  # the head on standardised features
    logits = np.asarray(features, np.float64) @ np.asarray(head.weight, np.float64).T + head.bias
    logits -= logits.max(1, keepdims=True)
    nll = np.log(np.exp(logits).sum(1)) - logits[np.arange(len(labels)), labels]
    rows = crossval.class_weights(labels, num_classes)[labels] if balance else np.ones(len(labels))
    return float((rows * nll).sum() / rows.sum() + 0.5 * l2 * (weight * weight).sum())


def gaussian(seed: int, rows: int, dim: int, classes: int, spread: float):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 0.5 + 2
    labels = np.sort(rng.integers(classes, size=rows))
    return (centres[labels] + rng.normal(size=(rows, dim)) * spread).astype(np.float32), labels


def fashion(per_class: int):
    if not fashion_mnist.available():
        pytest.skip("Fashion-MNIST not installed: sudo apt-get install dataset-fashion-mnist")
    images, labels = fashion_mnist.pick(per_class, seed=3)
    return images.reshape(len(labels), -1).astype(np.float32) / 255, labels.astype(np.int64)


def assert_agree(ours: LinearWeights, reference: LinearWeights, features, labels, classes, l2, balance=True):
    p, q = softmax(ours.logits(features)), softmax(reference.logits(features))
    assert np.abs(p - q).max() <= PROBABILITY_TOLERANCE
    top_two = np.sort(q, 1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > PROBABILITY_TOLERANCE
    assert (p.argmax(1) == q.argmax(1))[clear].all()
    assert objective(ours, features, labels, classes, l2, balance) \
        <= objective(reference, features, labels, classes, l2, balance) + 1e-6


def exact(monkeypatch, fit):
    """``fit()`` with crossval's stopping rules tightened to machine precision: the exact minimiser."""
    with monkeypatch.context() as tight:
        tight.setattr(crossval, "LOSS_TOLERANCE", 1e-15)
        tight.setattr(crossval, "GRADIENT_TOLERANCE", 1e-10)
        tight.setattr(crossval, "fit_logistic", functools.partial(fit_logistic, max_iterations=10_000))
        return fit()


@pytest.mark.parametrize(("seed", "rows", "dim", "classes", "spread", "l2", "balance"), [
    (0, 60, 32, 3, 1.0, 1e-3, True),  # separable: the weakest strength
    (1, 300, 256, 5, 3.0, 0.01, True),
    (2, 400, 128, 4, 4.0, 0.3, False),
    (3, 200, 64, 2, 2.0, 1.0, True),
])
def test_the_same_head_as_torch_on_gaussian_classes(seed, rows, dim, classes, spread, l2, balance):
    x, y = gaussian(seed, rows, dim, classes, spread)
    assert_agree(fit_logistic(x, y, classes, l2, balance=balance),
                 torch_fit_logistic(x, y, classes, l2, balance=balance), x, y, classes, l2, balance)


@pytest.mark.parametrize("l2", [0.01, 0.3])  # 0.3: torch's fit stops furthest from the minimiser
def test_the_same_head_as_torch_on_fashion_pixels(l2, monkeypatch):
    x, y = fashion(10)  # 784 pixels, the border ones constant: the standardisation's floor matters
    ours = fit_logistic(x, y, 10, l2)
    assert_agree(ours, torch_fit_logistic(x, y, 10, l2), x, y, 10, l2)
    minimiser = exact(monkeypatch, lambda: crossval.fit_logistic(x, y, 10, l2))
    assert np.abs(softmax(ours.logits(x)) - softmax(minimiser.logits(x))).max() <= EXACT_TOLERANCE


def test_the_same_warm_start_as_torch():
    x, y = gaussian(4, 200, 64, 3, 3.0)
    start = fit_logistic(x[:100], y[:100], 3, 0.1)
    assert_agree(fit_logistic(x, y, 3, 0.03, init=start), torch_fit_logistic(x, y, 3, 0.03, init=start),
                 x, y, 3, 0.03)


@pytest.mark.parametrize("data", ["gaussian 5", "gaussian 6", "fashion"])
def test_cross_validation_chooses_the_same_strength_as_torch(data, monkeypatch):
    if data == "fashion":  # two strengths only: the slowest data to fit
        (x, y), grid = fashion(6), (0.1, 1.0)
    else:
        (x, y), grid = gaussian(int(data.split()[1]), 150, 48, 3, 4.0), crossval.L2_GRID
    classes = int(y.max()) + 1
    ours = cross_validate(x, y, classes, grid=grid)
    monkeypatch.setattr(crossval, "fit_logistic", torch_fit_logistic)
    monkeypatch.setattr(crossval, "log_loss", torch_log_loss)
    reference = cross_validate(x, y, classes, grid=grid)
    assert ours.l2 == reference.l2 and ours.folds == reference.folds
    assert ours.scores[ours.l2] == pytest.approx(reference.scores[ours.l2], abs=1e-3)
    for l2, score in reference.scores.items():  # the weakest strengths converge slowest: torch stops further off
        assert ours.scores[l2] == pytest.approx(score, abs=5e-3)
    assert np.abs(softmax(ours.oof_logits) - softmax(reference.oof_logits)).max() <= PROBABILITY_TOLERANCE
