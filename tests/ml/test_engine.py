"""Metrics, the learning-rate schedule and the training loop on a problem small enough to check by hand."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch
from torch import nn

from desktop.ml.device import autocast_for, resolve_device, use_channels_last
from desktop.ml.engine import WarmupCosine, evaluate, train_one_epoch
from desktop.ml.metrics import classification_metrics, top_k_for
from desktop.progress import Cancelled


def test_metrics_match_a_hand_computed_example() -> None:
    # 3 classes; true [0,0,0,1,1,2], predicted [0,0,1,1,2,2]
    targets = np.array([0, 0, 0, 1, 1, 2])
    probabilities = np.eye(3, dtype=np.float32)[[0, 0, 1, 1, 2, 2]]
    m = classification_metrics(targets, probabilities, 3)
    assert m.confusion == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.precision == pytest.approx([1.0, 0.5, 0.5])
    assert m.recall == pytest.approx([2 / 3, 0.5, 1.0])
    assert m.f1 == pytest.approx([0.8, 0.5, 2 / 3])
    assert m.support == [3, 2, 1]
    assert m.balanced_accuracy == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert m.top_k is None and m.top_k_accuracy is None


def test_top_k_needs_more_classes_than_k() -> None:
    assert [top_k_for(n) for n in (2, 3, 4, 5, 6, 100)] == [None, None, 3, 3, 5, 5]
    rng = np.random.default_rng(0)
    probabilities = rng.random((200, 8)).astype(np.float32)
    targets = rng.integers(0, 8, 200)
    m = classification_metrics(targets, probabilities, 8)
    ranks = (probabilities > probabilities[np.arange(200), targets][:, None]).sum(1)
    assert m.top_k == 5
    assert m.top_k_accuracy == pytest.approx(float((ranks < 5).mean()))
    assert m.top_k_accuracy >= m.accuracy


def test_classes_never_predicted_or_absent_give_zero_not_nan() -> None:
    m = classification_metrics(np.array([0, 0]), np.array([[0.9, 0.1, 0.0]] * 2, np.float32), 3)
    assert m.precision == [1.0, 0.0, 0.0] and m.recall == [1.0, 0.0, 0.0]
    assert m.macro_f1 == 1.0  # averaged over classes that have samples
    assert not any(math.isnan(v) for v in m.f1)


def test_warmup_then_cosine() -> None:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = WarmupCosine(optimizer, warmup_fraction=0.1, final_factor=0.0)
    assert schedule.set_progress(0.05) == pytest.approx(0.5)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert schedule.set_progress(0.1) == pytest.approx(1.0)
    assert schedule.set_progress(0.55) == pytest.approx(0.5)
    assert schedule.set_progress(1.0) == pytest.approx(0.0, abs=1e-9)


def test_cpu_runs_in_fp32_without_a_scaler() -> None:
    device = resolve_device("cpu")
    autocast, scaler = autocast_for(device)
    assert autocast is contextlib.nullcontext and scaler is None
    assert not use_channels_last(device)


def _toy_batches(seed: int = 0, n: int = 256):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return [(x[i:i + 32], y[i:i + 32]) for i in range(0, n, 32)]


def test_training_loop_learns_a_separable_problem() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    device = torch.device("cpu")
    before = evaluate(model, criterion, _toy_batches(1), device)
    for _ in range(5):
        stats = train_one_epoch(model, criterion, optimizer, _toy_batches(), device, clip_grad_norm=1.0)
    after = evaluate(model, criterion, _toy_batches(1), device)
    assert stats.samples == 256
    assert after.loss < before.loss * 0.6
    assert after.accuracy > 0.9
    assert after.probabilities.shape == (256, 2)
    assert np.allclose(after.probabilities.sum(1), 1.0, atol=1e-5)


def test_training_loop_checks_cancel_every_batch() -> None:
    class CancelOnThirdCheck:
        checks = 0

        def is_set(self) -> bool:
            self.checks += 1
            return self.checks >= 3

    token = CancelOnThirdCheck()
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    with pytest.raises(Cancelled):
        train_one_epoch(model, nn.CrossEntropyLoss(), optimizer, _toy_batches(), torch.device("cpu"),
                        after_step=seen.append, cancel=token)
    assert seen == [0, 1]
