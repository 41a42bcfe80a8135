"""The training and evaluation loops (torchvision-references style) and the classification metrics.

Batches are any iterable of ``(inputs, targets, *rest)``: image batches from ``data.valid_batches`` and
feature batches from the trainer go through the same two functions. Mixed precision follows timm: an
autocast factory, and a GradScaler only for fp16 on CUDA, applied as scale → backward → unscale_ → clip
→ step → update.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from desktop.errors import PigeonholeError
from desktop.ml.device import AutocastFactory
from desktop.progress import CancelToken, check_cancel


class TrainingDiverged(PigeonholeError, RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class TrainPassStats:
    """What one pass over the training batches measured (``train_one_epoch``)."""

    loss: float  # mean over samples
    accuracy: float
    samples: int
    seconds: float


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    probabilities: np.ndarray  # (N, C) float32
    targets: np.ndarray  # (N,) int64


def train_one_epoch(model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer,
                    batches: Iterable, device: torch.device, *, autocast: AutocastFactory = contextlib.nullcontext,
                    scaler: torch.amp.GradScaler | None = None, clip_grad_norm: float | None = None,
                    channels_last: bool = False, before_step: Callable[[int], None] | None = None,
                    after_step: Callable[[int], None] | None = None,
                    cancel: CancelToken | None = None) -> TrainPassStats:
    """One pass over ``batches``. ``before_step(i)`` sets the learning rate, ``after_step(i)`` reports progress."""
    start = time.perf_counter()
    model.train()
    loss_sum, correct, samples = 0.0, 0, 0
    for step, (inputs, targets, *_rest) in enumerate(batches):
        check_cancel(cancel)
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if before_step is not None:
            before_step(step)
        with autocast():
            logits = model(inputs)
            loss = criterion(logits, targets)
        if not math.isfinite(loss.item()):
            raise TrainingDiverged("Training diverged (the loss became infinite or NaN); try a lower learning rate.")
        optimizer.zero_grad(set_to_none=True)
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip_grad_norm is not None:
                scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                nn.utils.clip_grad_norm_(parameters, clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(parameters, clip_grad_norm)
            optimizer.step()
        count = targets.shape[0]
        loss_sum += loss.item() * count  # sample-weighted, so a short last batch counts for what it is
        correct += int((logits.argmax(1) == targets).sum())
        samples += count
        if after_step is not None:
            after_step(step)
    if samples == 0:
        raise TrainingDiverged("No training image could be read.")
    return TrainPassStats(loss_sum / samples, correct / samples, samples, time.perf_counter() - start)


def evaluate(model: nn.Module, criterion: nn.Module, batches: Iterable, device: torch.device, *,
             autocast: AutocastFactory = contextlib.nullcontext, channels_last: bool = False,
             cancel: CancelToken | None = None) -> Evaluation:
    model.eval()
    loss_sum, samples = 0.0, 0
    probabilities, all_targets = [], []
    with torch.inference_mode():
        for inputs, targets, *_rest in batches:
            check_cancel(cancel)
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            if channels_last and inputs.dim() == 4:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast():
                logits = model(inputs)
            logits = logits.float()
            loss_sum += criterion(logits, targets).item() * targets.shape[0]
            samples += targets.shape[0]
            probabilities.append(logits.softmax(1).cpu().numpy())
            all_targets.append(targets.cpu().numpy())
    if samples == 0:
        return Evaluation(math.nan, math.nan, np.zeros((0, 0), np.float32), np.zeros(0, np.int64))
    probs = np.concatenate(probabilities).astype(np.float32)
    target_array = np.concatenate(all_targets).astype(np.int64)
    accuracy = float((probs.argmax(1) == target_array).mean())
    return Evaluation(loss_sum / samples, accuracy, probs, target_array)


class WarmupCosine:
    """Linear warm-up then cosine decay, as a function of training progress (0 → 1), not of step count,
    so the schedule survives a batch-size change (after an out-of-memory retry)."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_fraction: float, final_factor: float = 0.01) -> None:
        self.optimizer = optimizer
        self.warmup = max(0.0, min(0.5, warmup_fraction))
        self.final = final_factor
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def factor(self, progress: float) -> float:
        progress = min(max(progress, 0.0), 1.0)
        if self.warmup > 0 and progress < self.warmup:
            return max(progress / self.warmup, 0.01)
        span = (progress - self.warmup) / max(1e-8, 1.0 - self.warmup)
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * span))

    def set_progress(self, progress: float) -> float:
        factor = self.factor(progress)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        return factor
