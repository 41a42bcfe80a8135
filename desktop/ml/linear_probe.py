"""Linear heads on cached features. Fine-tuning's first stage, the linear probe: standardised features while the
head trains, the previous model's head unfolded into them (a warm start) and folded back out afterwards, and
shuffled batches drawing one view (original or mirrored) per photo. And ``fit_linear_head``: frozen mode's head,
fitted as ``train`` fits it (``crossval.fit_linear_weights``, without torch) and returned as a torch head, for tools
that train many heads on cached features."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from desktop.ml.crossval import fit_linear_weights
from desktop.ml.model import LinearHead
from desktop.ml.options import TrainingOptions
from desktop.ml.train_record import WarmStart
from desktop.progress import CancelToken


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
    weight, bias = torch.as_tensor(warm.weight, device=mean.device), torch.as_tensor(warm.bias, device=mean.device)
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
    """``crossval.fit_linear_weights`` (frozen mode's head, fitted without torch) as a torch head in eval mode on
    the CPU, taking raw features: for tools that then run it as a model."""
    fitted = fit_linear_weights(features, labels, class_count, options, cancel, l2)
    head = LinearHead(fitted.weight.shape[1], class_count)
    with torch.no_grad():
        head.linear.weight.copy_(torch.from_numpy(fitted.weight))
        head.linear.bias.copy_(torch.from_numpy(fitted.bias))
    return head.eval()
