"""Linear heads on cached features. Fine-tuning's first stage, the linear probe: standardised features while the
head trains, the previous model's head unfolded into them (a warm start) and folded back out afterwards, and
shuffled batches drawing one view (original or mirrored) per photo. And ``fit_linear_head``: frozen mode's head,
fitted as ``train`` fits it, for tools that train many heads on cached features."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from desktop.ml.crossval import cross_validate, fit_logistic
from desktop.ml.features import ORIGINAL
from desktop.ml.model import LinearHead
from desktop.ml.options import TrainingOptions
from desktop.ml.progress import CancelToken, check_cancel
from desktop.ml.train_record import WarmStart


class Standardize(nn.Module):
    """Zero-mean unit-variance features while the head trains; folded into the head's weights afterwards."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std


def apply_warm_start(head: LinearHead, warm: WarmStart, mean: torch.Tensor, std: torch.Tensor) -> None:
    # The old head takes raw features (its standardization was folded in); this run's head sees standardized
    # ones, so unfold with this run's statistics: W x + b = (W s) ((x - m) / s) + (b + W m).
    weight, bias = warm.weight.to(mean.device), warm.bias.to(mean.device)
    if weight.shape[1] != head.linear.in_features:
        return
    with torch.no_grad():
        for new_row, old_row in enumerate(warm.rows):
            if old_row is not None:
                head.linear.weight[new_row] = weight[old_row] * std
                head.linear.bias[new_row] = bias[old_row] + weight[old_row] @ mean


def fold_standardization(head: LinearHead, mean: torch.Tensor, std: torch.Tensor) -> None:
    # W((x - m) / s) + b = (W / s) x + (b - (W / s) m): the head then takes raw backbone features.
    with torch.no_grad():
        weight = head.linear.weight / std
        head.linear.bias -= weight @ mean
        head.linear.weight.copy_(weight)


class FeatureBatches:
    """Shuffled batches of cached features; each sample draws one of its views (original or mirrored)."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int, generator: torch.Generator,
                 shuffle: bool = True) -> None:
        self.features, self.labels = features, labels  # (N, V, D), (N,)
        self.batch_size, self.generator, self.shuffle = batch_size, generator, shuffle

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self):
        count, views = self.features.shape[0], self.features.shape[1]
        order = torch.randperm(count, generator=self.generator) if self.shuffle else torch.arange(count)
        for start in range(0, count, self.batch_size):
            index = order[start:start + self.batch_size]
            view = torch.randint(views, (len(index),), generator=self.generator) if self.shuffle else \
                torch.zeros(len(index), dtype=torch.long)
            yield self.features[index, view], self.labels[index]


def fit_linear_head(features: np.ndarray, labels: Sequence[int], class_count: int,
                    options: TrainingOptions | None = None, cancel: CancelToken | None = None,
                    l2: float | None = None) -> LinearHead:
    """Frozen mode's head on precomputed features, fitted by the same code as in ``train``: logistic regression on
    every row given, its L2 strength ``l2`` or, when None, chosen by cross-validation as ``train`` chooses it.

    ``features``: raw backbone features, (N, D) or (N, V, D) with views (every view is a training row);
    ``labels``: class indices. Returns the head in eval mode on the CPU, taking raw features. For tools training
    many small heads on cached features: active-learning benchmarks. ``options`` default: TrainingOptions().
    """
    options = options or TrainingOptions()
    features = np.asarray(features, dtype=np.float32)
    features = features[:, None] if features.ndim == 2 else features
    labels = np.asarray(labels, dtype=np.int64)
    if l2 is None:
        l2 = cross_validate(features[:, ORIGINAL], labels, class_count, folds=options.folds, seed=options.seed,
                            balance=options.balance_classes, cancel=cancel).l2
    check_cancel(cancel)
    fitted = fit_logistic(features.reshape(-1, features.shape[-1]), np.repeat(labels, features.shape[1]),
                          class_count, l2, balance=options.balance_classes,
                          **({"max_iterations": options.epochs} if options.epochs else {}))
    head = LinearHead(features.shape[-1], class_count)
    with torch.no_grad():
        head.linear.weight.copy_(fitted.weight)
        head.linear.bias.copy_(fitted.bias)
    return head.eval()
