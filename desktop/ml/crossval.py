"""Frozen heads fitted on every labelled photo, with k-fold cross-validation choosing the regularisation.

The head is a multinomial logistic regression on standardised backbone features, fitted to convergence by
full-batch L-BFGS (convex: the same data give the same weights, in a fraction of a second on a CPU). Its L2
strength comes from a small grid, scored by the out-of-fold log-loss of stratified k-fold cross-validation;
the out-of-fold logits of the chosen strength are an honest prediction for every labelled photo (no photo is
judged by a head that saw its label): the reported metrics, the temperature of the calibration and the
label-error finder all use them. The final head is then fitted on every photo.

numpy and scipy only (no torch: the CPU build fits heads too). The fit runs in float64 with an analytic gradient
through scipy's L-BFGS-B; the same rows in the same order give bit-identical weights. It replaced a float32 torch
L-BFGS fit of the same objective, and agrees with it (tests/ml/test_logistic_vs_torch.py keeps it as the reference)
to within 5e-3 in every probability (2e-4 on Gaussian classes; on Fashion-MNIST pixels torch's float32 stop lies up
to 2.5e-3 from the exact minimiser, this fit within 1e-3), with the same predicted class wherever the top two
differ by more than that, a loss at least as low, and the same L2 chosen by cross-validation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from desktop.ml.calibration import log_loss
from desktop.ml.grouping import similarity_groups, unit_rows
from desktop.ml.options import DEFAULT_FOLDS, TrainingOptions
from desktop.progress import CancelToken, check_cancel

# L2 strength λ of the loss mean(CE) + λ/2 ‖W‖² on standardised features; scored by cross-validation.
L2_GRID = (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
MAX_ITERATIONS = 200  # L-BFGS iterations per fit: far more than convergence needs on a few thousand photos
HISTORY = 20  # L-BFGS memory (pairs of steps)
GRADIENT_TOLERANCE = 1e-6  # converged when no gradient entry is larger...
LOSS_TOLERANCE = 1e-9  # ...or when an iteration lowers the loss by less than this (relative, for a loss over 1)


DUPLICATE_SIMILARITY = 0.95  # cosine similarity of features above which two photos count as near-duplicates


def stratified_folds(labels: np.ndarray, k: int, seed: int = 0, groups: np.ndarray | None = None) -> np.ndarray:
    """Fold number per row, each class spread evenly over the folds. Rows sharing a ``groups`` id (near-duplicates)
    share a fold: a photo's copy in the training folds would flatter its out-of-fold prediction. The folds follow
    the rows' order (and the seed) only: callers give rows in an order fixed by their content."""
    labels = np.asarray(labels)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    _, first, group_of, sizes = np.unique(groups, return_index=True, return_inverse=True, return_counts=True)
    rows_of = np.split(np.argsort(group_of, kind="stable"), np.cumsum(sizes)[:-1])  # per group, its rows
    by_first = np.argsort(first)  # groups in the order of their first row
    for label in np.unique(labels):
        members = by_first[labels[first[by_first]] == label]  # a group goes with the label of its first row
        rng.shuffle(members)
        start = int(rng.integers(k))  # classes start on different folds
        load = np.zeros(k, np.int64)
        for n, group in enumerate(members.tolist()):
            # Round-robin for single photos; a group goes to the least-filled fold so the folds stay even.
            fold = (start + n) % k if sizes[group] == 1 else int(np.argmin(load))
            folds[rows_of[group]] = fold
            load[fold] += sizes[group]
    return folds


def near_duplicate_groups(features: np.ndarray, threshold: float = DUPLICATE_SIMILARITY,
                          cancel: CancelToken | None = None) -> np.ndarray:
    """Group id per row (the group's first row): rows whose features point (nearly) the same way, joined
    transitively (``grouping``: never every pair, so a burst of thousands of shots stays quick)."""
    return similarity_groups(unit_rows(features), threshold, cancel).labels


def fold_count(labels: np.ndarray, wanted: int = DEFAULT_FOLDS) -> int:
    """``wanted`` folds, or fewer when the smallest class has fewer photos (each fold holds one of each)."""
    counts = np.bincount(np.asarray(labels))
    return int(max(2, min(wanted, counts[counts > 0].min())))


@dataclass(frozen=True)
class LinearWeights:
    """A fitted head on raw features: logits = features @ weight.T + bias."""

    weight: np.ndarray  # (C, D) float32
    bias: np.ndarray  # (C,) float32

    def logits(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float32) @ self.weight.T + self.bias


def standardisation(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and spread (float64)."""
    features = np.asarray(features, dtype=np.float64)
    mean, std = features.mean(0), features.std(0)
    # Floor at the typical spread: a feature (nearly) constant on the few training photos would otherwise get a
    # huge weight and swing the logits of any new photo where it is not.
    return mean, np.maximum(std, float(std.mean()) + 1e-6)


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse frequency, so every class weighs the same in the loss however many photos it has."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 0.0)


def fit_logistic(features: np.ndarray, labels: np.ndarray, num_classes: int, l2: float, *,
                 balance: bool = True, max_iterations: int = MAX_ITERATIONS,
                 init: LinearWeights | None = None,
                 on_iteration: Callable[[int, float, float], None] | None = None) -> LinearWeights:
    """Multinomial logistic regression, L2-regularised, on standardised ``features`` (N, D); returned on raw
    features (the standardisation folded in). ``init``: raw-feature weights to start from (a warm start).
    ``on_iteration(i, loss, accuracy)`` after each evaluation of the loss (the training rows' accuracy); what it
    raises (``Cancelled``) ends the fit."""
    y = np.asarray(labels, dtype=np.int64)
    z = np.array(features, dtype=np.float64)  # the one float64 copy, standardised in place
    mean, std = standardisation(z)
    z -= mean
    z /= std
    rows, dim = z.shape
    weight, bias = np.zeros((num_classes, dim)), np.zeros(num_classes)
    if init is not None:  # W x + b = (W s) ((x - m) / s) + (b + W m)
        init_weight = np.asarray(init.weight, dtype=np.float64)
        weight, bias = init_weight * std, np.asarray(init.bias, dtype=np.float64) + init_weight @ mean
    # Cross-entropy weighted per class, normalised by the weight of the rows (torch's CrossEntropyLoss(weight)).
    row_weight = class_weights(y, num_classes)[y] if balance else np.ones(rows)
    row_weight = row_weight / row_weight.sum()
    picked = (np.arange(rows), y)
    evaluations = 0

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        w, b = theta[:-num_classes].reshape(num_classes, dim), theta[-num_classes:]
        logits = z @ w.T + b
        logits -= logits.max(1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        loss = float(-(row_weight * log_p[picked]).sum() + 0.5 * l2 * (w * w).sum())
        slope = np.exp(log_p)
        slope[picked] -= 1.0
        slope *= row_weight[:, None]  # d loss / d logits
        gradient = np.concatenate([(slope.T @ z + l2 * w).ravel(), slope.sum(0)])
        evaluations += 1
        if on_iteration is not None:
            on_iteration(evaluations, loss, float((logits.argmax(1) == y).mean()))
        return loss, gradient

    with _one_thread():
        theta = minimize(loss_and_gradient, np.concatenate([weight.ravel(), bias]), jac=True, method="L-BFGS-B",
                         options={"maxiter": max_iterations, "maxfun": max(1, max_iterations * 5 // 4),
                                  "maxcor": HISTORY, "maxls": 25, "ftol": LOSS_TOLERANCE,
                                  "gtol": GRADIENT_TOLERANCE}).x
    weight, bias = theta[:-num_classes].reshape(num_classes, dim), theta[-num_classes:]
    raw = weight / std  # W((x - m) / s) + b = (W / s) x + (b - (W / s) m)
    return LinearWeights(raw.astype(np.float32), (bias - raw @ mean).astype(np.float32))


@dataclass(frozen=True)
class CrossValidation:
    l2: float  # the chosen strength
    folds: int
    oof_logits: np.ndarray  # (N, C) float32, each row from a head that did not see that row
    scores: dict[float, float]  # out-of-fold log-loss per strength tried


def cross_validate(features: np.ndarray, labels: np.ndarray, num_classes: int, *, folds: int = DEFAULT_FOLDS,
                   grid: Sequence[float] = L2_GRID, seed: int = 0, balance: bool = True,
                   cancel: CancelToken | None = None, on_step: Callable[[int, int], None] | None = None,
                   groups: np.ndarray | None = None) -> CrossValidation:
    """Stratified k-fold over ``grid``: the strength whose out-of-fold predictions have the lowest log-loss
    (ties to the stronger one), and those predictions. ``groups``: rows to keep in one fold (near-duplicates)."""
    labels = np.asarray(labels, dtype=np.int64)
    k = fold_count(labels, folds)
    fold_of = stratified_folds(labels, k, seed, groups)
    scores: dict[float, float] = {}
    best_logits, best_l2 = None, None
    steps, done = len(grid) * k, 0
    previous: dict[int, LinearWeights] = {}
    for l2 in sorted(grid, reverse=True):  # strongest first; each fit starts from the fold's previous one
        logits = np.zeros((len(labels), num_classes), np.float32)
        for fold in range(k):
            check_cancel(cancel)
            held_out = fold_of == fold
            head = fit_logistic(features[~held_out], labels[~held_out], num_classes, l2, balance=balance,
                                init=previous.get(fold))
            previous[fold] = head
            logits[held_out] = head.logits(features[held_out])
            done += 1
            if on_step is not None:
                on_step(done, steps)
        scores[l2] = log_loss(logits, labels)
        if best_l2 is None or scores[l2] < scores[best_l2] - 1e-9:
            best_l2, best_logits = l2, logits
    return CrossValidation(best_l2, k, best_logits, scores)


def fit_linear_weights(features: np.ndarray, labels: Sequence[int], class_count: int,
                       options: TrainingOptions | None = None, cancel: CancelToken | None = None,
                       l2: float | None = None) -> LinearWeights:
    """Frozen mode's head on precomputed features, fitted as ``train`` fits it: logistic regression on every row
    given, its L2 strength ``l2`` or, when None, chosen by cross-validation on the first view (the original photo).

    ``features``: raw backbone features, (N, D) or (N, V, D) with views (every view is a training row);
    ``labels``: class indices; ``options`` default: TrainingOptions() (``epochs``, when set, caps the iterations).
    For tools training many small heads on cached features; ``linear_probe.fit_linear_head`` wraps it in torch."""
    options = options or TrainingOptions()
    features = np.asarray(features, dtype=np.float32)
    features = features[:, None] if features.ndim == 2 else features
    labels = np.asarray(labels, dtype=np.int64)
    if l2 is None:
        l2 = cross_validate(features[:, 0], labels, class_count, folds=options.folds, seed=options.seed,
                            balance=options.balance_classes, cancel=cancel).l2
    check_cancel(cancel)
    return fit_logistic(features.reshape(-1, features.shape[-1]), np.repeat(labels, features.shape[1]),
                        class_count, l2, balance=options.balance_classes,
                        **({"max_iterations": options.epochs} if options.epochs else {}))


class _one_thread:
    """Small matrices: one BLAS thread is as fast, and numpy's default threads are 15-35x slower while another
    process keeps a core busy (bench/logistic_bench.py): threadpoolctl limits OpenBLAS for the fit."""

    def __enter__(self) -> None:
        from threadpoolctl import threadpool_limits

        self.limit = threadpool_limits(1, user_api="blas")

    def __exit__(self, *exc) -> None:
        self.limit.restore_original_limits()
