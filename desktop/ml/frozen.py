"""Frozen training, the everyday kind, without torch: the pretrained backbone's features (ONNX Runtime on a CPU),
a logistic-regression head fitted on every labelled photo, cross-validated, calibrated, and its checkpoint.

``train_frozen`` is the whole job in the CPU build; the full build's ``trainer.train`` runs the same function
for frozen mode, handing it the torch backbone to fall back on (or to run on a GPU). Steps:

1. features of every photo (and its mirror image) from the feature cache or the backbone;
2. near-duplicate groups kept within one fold, then k-fold cross-validation over the L2 grid (``crossval``):
   an out-of-fold prediction for every photo, the reported metrics;
3. temperature scaling fitted on those (``calibration.calibrate``, kept only where it helps);
4. the final head on every photo (warm-started from the previous model's head), the temperature folded in;
5. the checkpoint and the result (``train_record``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop.ml.backbones import BackboneSpec, PretrainedWeights, get_backbone, pretrained_weights
from desktop.ml.calibration import Calibration, calibrate
from desktop.ml.crossval import LinearWeights, cross_validate, fit_logistic, log_loss, near_duplicate_groups
from desktop.ml.features import MIRRORED, ORIGINAL, extract_features_across_ranks, open_feature_cache
from desktop.ml.metrics import classification_metrics
from desktop.ml.options import TrainingOptions
from desktop.ml.run_reports import check_items, load_reported, record_epoch, start_run
from desktop.ml.splits import NotEnoughData
from desktop.ml.train_record import (
    EpochRecord,
    TrainingRecord,
    TrainItem,
    TrainResult,
    WarmStart,
    build_checkpoint,
    calibration_record,
    head_state,
)
from desktop.progress import (
    PHASE_CROSS_VALIDATING,
    CancelToken,
    Progress,
    ProgressCallback,
    check_cancel,
    emit,
)
from desktop.wording import plural


@dataclass(frozen=True)
class FrozenFit:
    head: LinearWeights  # final, on every photo, calibrated (T folded in), on raw features
    oof_logits: np.ndarray  # uncalibrated
    calibration: Calibration
    folds: int
    l2: float
    iterations: int


@dataclass
class ProbedFeatures:
    """The photos the run goes on with, their pretrained features and what was left out."""

    items: list[TrainItem]
    features: np.ndarray | None  # (N, V, D); None when training from scratch (no pretrained features)
    skipped: list[tuple[str, str]]  # (path, reason) of unreadable photos
    computed: int
    reused: int


def cpu_description() -> str:
    return f"CPU ({os.cpu_count() or 1} cores)"


def train_frozen(options: TrainingOptions, items: Sequence[TrainItem], class_names: Sequence[str],
                 cache_dir: Path | None, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None, warm_start: WarmStart | None = None, *,
                 load_extractor: Callable[[PretrainedWeights], Any] | None = None, device: Any = None,
                 device_name: str | None = None, requested_mode: str | None = None) -> TrainResult:
    """Frozen mode from start to result; raises NotEnoughData, WeightsError or Cancelled.

    ``load_extractor(weights)``: builds the torch backbone the features fall back on where ONNX Runtime cannot
    compute them (called once the data passed its check), and ``device`` the torch device (full build); None for
    both in the CPU build.
    ``options`` as resolved by the caller; ``requested_mode``: what the user asked for ("auto" or "frozen").
    """
    started = time.perf_counter()
    notice = start_run(class_names, items, on_progress)
    spec = get_backbone(options.backbone)
    weights = pretrained_weights(spec.name)  # WeightsError when this installation has none
    extractor = None
    if load_extractor is not None:
        extractor = load_reported(lambda: load_extractor(weights), on_progress, cancel)
    probe = probe_features(spec, weights.identity, options, list(items), cache_dir, class_names, notice,
                           on_progress, cancel, extractor=extractor, device=device)
    history: list[EpochRecord] = []
    fit = fit_frozen(probe.features, probe.items, len(class_names), options, warm_start, history, notice,
                     on_progress, cancel)
    return frozen_result(spec, weights, options, requested_mode or options.mode, str(device or "cpu"),
                         device_name or cpu_description(), class_names, fit, probe, history, notice.messages,
                         started)


def probe_features(spec: BackboneSpec, identity: str, options: TrainingOptions, items: list[TrainItem],
                   cache_dir: Path | None, class_names: Sequence[str], notice: Callable[[str], None],
                   on_progress: ProgressCallback | None, cancel: CancelToken | None, *, extractor: Any = None,
                   device: Any = None) -> ProbedFeatures:
    """Every photo's pretrained features (original and, as asked, mirrored), unreadable photos left out."""
    cache = open_feature_cache(cache_dir, spec, identity) if cache_dir is not None else None
    # In a distributed run each rank computes its share and gets everyone's: every rank then fits the same head
    # on the same features (rank 0 alone saves it).
    feature_set = extract_features_across_ranks(
        extractor, spec, [i.path for i in items], [i.content_hash for i in items], cache=cache,
        views=(ORIGINAL, MIRRORED) if options.mirror_features else (ORIGINAL,), device=device,
        batch_size=options.batch_size, num_workers=options.num_workers, on_progress=on_progress,
        cancel=cancel, weights_identity=identity)
    if cache is not None and cache.problem:
        notice(cache.problem)
    skipped = [(str(items[i].path), reason) for i, reason in sorted(feature_set.errors.items())]
    features = feature_set.features
    if skipped:
        notice(f"{plural(len(skipped), 'photo')} could not be read and {_were(len(skipped))} left out: "
               + "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:5]) + ("…" if len(skipped) > 5 else ""))
        items = [item for item, ok in zip(items, feature_set.ok, strict=True) if ok]
        features = features[feature_set.ok]
        recheck(class_names, items, len(skipped))
    return ProbedFeatures(items, features, skipped, feature_set.computed, feature_set.reused)


def fit_frozen(features: np.ndarray, items: Sequence[TrainItem], class_count: int, options: TrainingOptions,
               warm_start: WarmStart | None, history: list[EpochRecord], notice: Callable[[str], None],
               on_progress: ProgressCallback | None, cancel: CancelToken | None) -> FrozenFit:
    """Cross-validation, calibration and the final head on ``features`` (N, V, D); ``history`` gets the curves."""
    labels = np.array([item.label for item in items], dtype=np.int64)
    original = np.ascontiguousarray(features[:, ORIGINAL])
    started = time.perf_counter()

    def on_step(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        emit(on_progress, Progress(PHASE_CROSS_VALIDATING, done, total, elapsed / done * (total - done)))

    groups = near_duplicate_groups(original, cancel=cancel)
    duplicates = len(groups) - len(np.unique(groups))
    if duplicates:
        are = "is a near-duplicate" if duplicates == 1 else "are near-duplicates"
        notice(f"{plural(duplicates, 'photo')} {are} of other labelled photos; each such group was "
               "kept within one cross-validation fold, so the out-of-fold accuracy is not flattered by "
               "them (Model ▸ Find Near-Duplicates shows them).")
    cv = cross_validate(original, labels, class_count, folds=options.folds, seed=options.seed,
                        balance=options.balance_classes, cancel=cancel, on_step=on_step, groups=groups)
    calibration = calibrate(cv.oof_logits, labels)
    temperature = calibration.temperature
    oof_loss = log_loss(cv.oof_logits / temperature, labels)
    oof_accuracy = float((cv.oof_logits.argmax(1) == labels).mean())
    # The final head: every photo (and its mirror image where cached), starting from the last model's head.
    rows, targets = features.reshape(-1, features.shape[-1]), np.repeat(labels, features.shape[1])
    init = warm_weights(warm_start, class_count, features.shape[-1])
    cap = options.epochs  # None: to convergence
    records: list[tuple[int, float, float]] = []

    def on_iteration(iteration: int, loss: float, accuracy: float) -> None:
        check_cancel(cancel)
        records.append((iteration, loss, accuracy))

    head = fit_logistic(rows, targets, class_count, cv.l2, balance=options.balance_classes, init=init,
                        on_iteration=on_iteration, **({"max_iterations": cap} if cap else {}))
    check_cancel(cancel)
    # The curves: the final fit converging (train), against the out-of-fold level it is expected to reach.
    shown = records[:: max(1, len(records) // 40)] or [(1, math.nan, math.nan)]
    seconds = (time.perf_counter() - started) / len(shown)
    for epoch, (_iteration, loss, accuracy) in enumerate(shown, 1):
        record_epoch(history, on_progress, EpochRecord("head", epoch, loss, accuracy, oof_loss, oof_accuracy, 1.0,
                                                        seconds), len(shown), epoch == len(shown), 0.0)
    # softmax((W x + b) / T) = softmax((W / T) x + b / T): the saved head gives calibrated probabilities.
    calibrated = LinearWeights(np.asarray(head.weight / temperature, np.float32),
                               np.asarray(head.bias / temperature, np.float32))
    return FrozenFit(calibrated, cv.oof_logits, calibration, cv.folds, cv.l2, len(records))


def warm_weights(warm: WarmStart | None, class_count: int, dim: int) -> LinearWeights | None:
    """The previous model's head rearranged to this run's classes (zeros for a new class); None when unusable."""
    if warm is None or np.shape(warm.weight)[1] != dim:
        return None
    old_weight, old_bias = np.asarray(warm.weight, np.float32), np.asarray(warm.bias, np.float32)
    weight, bias = np.zeros((class_count, dim), np.float32), np.zeros(class_count, np.float32)
    for new_row, old_row in enumerate(warm.rows):
        if old_row is not None:
            weight[new_row], bias[new_row] = old_weight[old_row], old_bias[old_row]
    return LinearWeights(weight, bias)


def frozen_result(spec: BackboneSpec, weights: PretrainedWeights, options: TrainingOptions, requested_mode: str,
                  device: str, device_name: str, class_names: Sequence[str], fit: FrozenFit, probe: ProbedFeatures,
                  history: list[EpochRecord], notices: list[str], started: float) -> TrainResult:
    """The result of a frozen run, judged out-of-fold on every photo, with its checkpoint. ``device``: where it ran
    ("cpu", "cuda:0"), as the checkpoint records it; ``device_name``: the same in words, as the result says it."""
    items, skipped = probe.items, probe.skipped
    labels = np.array([item.label for item in items], dtype=np.int64)
    calibrated = fit.calibration.probabilities
    metrics = classification_metrics(labels, calibrated, len(class_names))
    calibration = calibration_record(fit.calibration, labels)
    duration = time.perf_counter() - started
    record = TrainingRecord(options.as_dict(), requested_mode, device, duration, len(items), len(items),
                            "out-of-fold", "head", 0, tuple(history), tuple(skipped), fit.folds, fit.l2,
                            fit.iterations)
    head_config = {"in_features": int(fit.head.weight.shape[1]), "num_classes": len(class_names),
                   "dropout": float(options.dropout)}
    checkpoint = build_checkpoint(spec, head_state(fit.head.weight, fit.head.bias), head_config, class_names, weights,
                                  "frozen", metrics, record, calibration, calibrated, labels)
    return TrainResult(checkpoint, metrics, "frozen", device_name, record, notices, probe.computed, probe.reused,
                       list(items), calibrated.argmax(1).tolist())


def recheck(class_names: Sequence[str], items: Sequence[TrainItem], unreadable: int) -> None:
    """check_enough_data again once unreadable photos are left out, saying how many were."""
    try:
        check_items(class_names, items)
    except NotEnoughData as error:
        raise NotEnoughData([*error.problems, f"({plural(unreadable, 'unreadable photo')} {_were(unreadable)} "
                                              "left out.)"]) from None


def _were(count: int) -> str:
    return "was" if count == 1 else "were"
