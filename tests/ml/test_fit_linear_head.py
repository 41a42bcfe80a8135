"""fit_linear_head: the frozen mode's head training on given features, without a validation split."""

from __future__ import annotations

import numpy as np
import torch

from desktop.ml.linear_probe import fit_linear_head
from desktop.ml.options import TrainingOptions


def _blobs(seed: int, per_class: int = 20, classes: int = 3, dim: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3 + 5  # far from zero mean: the standardization must be folded in
    labels = np.repeat(np.arange(classes), per_class)
    return (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def test_head_learns_from_raw_features_and_is_repeatable() -> None:
    train_x, train_y = _blobs(0)
    test_x = train_x + np.random.default_rng(1).normal(size=train_x.shape).astype(np.float32) * 0.5
    config = TrainingOptions(epochs=20, seed=3, device="cpu")
    head = fit_linear_head(train_x, train_y, 3, config)
    assert not head.training
    with torch.no_grad():
        predicted = head(torch.from_numpy(test_x)).argmax(1).numpy()
    assert (predicted == train_y).mean() > 0.9
    again = fit_linear_head(train_x, train_y, 3, config)
    assert torch.equal(head.linear.weight, again.linear.weight)


def test_views_axis_is_accepted() -> None:
    train_x, train_y = _blobs(2, per_class=5)
    head = fit_linear_head(np.stack([train_x, train_x[:, ::-1]], 1), train_y, 3,
                           TrainingOptions(epochs=3, device="cpu"))
    assert head.linear.weight.shape == (3, 32)
