"""``train(options, items, class_names, cache_dir, on_progress, cancel) -> TrainResult``: the whole training job.

Two modes share one path:

* ``frozen``: the backbone is used as is. Its features are computed once per image (feature cache), and a
  linear head (multinomial logistic regression) is fitted on them with *every* labelled photo: k-fold
  cross-validation on the cached features chooses its regularisation and gives an out-of-fold prediction for
  every photo (the reported metrics), temperature scaling fitted on those calibrates it (kept only where it
  improves the held-out fit: ``calibration.calibrate``), and the final head is
  fitted on all photos (``crossval``, ``calibration``). Seconds per run; the split is not used. This is
  ``frozen.train_frozen``, the CPU build's path too (no torch): ``train`` hands it the torch backbone to fall
  back on where ONNX Runtime cannot compute the features, or to compute them on a GPU.
* ``finetune``: first a linear head on the training split (a linear probe, which also gives a good starting
  point), then the last blocks of the backbone train together with the head, at a lower learning rate for the
  backbone. The probe counts as epoch 0 of the early stopping, so fine-tuning only replaces it when the
  validation loss improves. Metrics and the temperature come from the validation split.

Either way the temperature is folded into the saved head (weights and bias divided by T), so every consumer of
the checkpoint (Predictor, exports, Grad-CAM) gives calibrated probabilities; ``checkpoint["temperature"]``
records it (1.0 when calibration was not kept), ``checkpoint["calibration"]`` the fit before and after,
``checkpoint["out_of_fold"]`` the calibrated held-out probabilities and labels, ``checkpoint["precision_thresholds"]``
per-class thresholds (``precision``; the sort reads the same held-out predictions from the models row).

The caller owns the data: items carry path, content hash, label index and split (see ``splits``).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from desktop.errors import PigeonholeError
from desktop.ml import distributed
from desktop.ml.backbones import (
    BackboneSpec,
    PretrainedWeights,
    WeightsError,
    build_feature_extractor,
    get_backbone,
    pretrained_weights,
)
from desktop.ml.calibration import calibrate
from desktop.ml.data import ImageDataset, make_loader, valid_batches
from desktop.ml.device import autocast_for, describe_device, halving_batches, use_channels_last
from desktop.ml.engine import Evaluation, TrainPassStats, WarmupCosine, evaluate, train_one_epoch
from desktop.ml.features import ORIGINAL
from desktop.ml.frozen import ProbedFeatures, probe_features, train_frozen
from desktop.ml.linear_probe import FeatureBatches, Standardize, apply_warm_start, fold_standardization
from desktop.ml.metrics import classification_metrics
from desktop.ml.model import Classifier, build_classifier, cancel_between_blocks
from desktop.ml.options import TrainingOptions
from desktop.ml.run_reports import load_reported, record_epoch, start_run
from desktop.ml.seed import seed_everything
from desktop.ml.splits import TRAIN, VAL
from desktop.ml.train_record import (
    EpochRecord,
    TrainingRecord,
    TrainItem,
    TrainResult,
    WarmStart,
    build_checkpoint,
    calibration_record,
    fold_temperature,
    numpy_state,
)
from desktop.ml.transforms import decode_size, eval_transform, train_transform
from desktop.progress import (
    PHASE_EVALUATING,
    PHASE_TRAINING,
    CancelToken,
    Progress,
    ProgressCallback,
    check_cancel,
    emit,
)

# Fine-tuning pays off once each class has a few dozen images; below that it mostly overfits.
FINETUNE_MIN_PER_CLASS = 30
# Fine-tuning's first stage, the linear probe on cached features (the options' epochs and learning rate are
# fine-tuning's own).
PROBE_EPOCHS, PROBE_LEARNING_RATE, PROBE_PATIENCE = 60, 1e-3, 10


def choose_mode(train_counts: Sequence[int], device: torch.device) -> str:
    """"auto": fine-tune only with enough images per class and a GPU; on a CPU one fine-tuning epoch costs
    about as much as computing every feature three times, for a gain that needs large classes to show."""
    if device.type == "cpu" or min(train_counts) < FINETUNE_MIN_PER_CLASS:
        return "frozen"
    return "finetune"


def train(options: TrainingOptions, items: Sequence[TrainItem], class_names: Sequence[str], cache_dir: Path | None,
          on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
          warm_start: WarmStart | None = None) -> TrainResult:
    """Train a classifier; raises NotEnoughData, WeightsError, DeviceUnavailable, Cancelled or TrainingDiverged.

    ``cache_dir`` holds the feature cache (reused across runs and projects); None computes features afresh.
    ``warm_start``: the linear head starts from a previous model's head (same backbone), class by class; the
    backbone always starts from its pretrained weights, so cached features stay valid.
    Frozen mode is ``frozen.train_frozen`` (the CPU build's path too), with this backbone to fall back on.
    """
    started = time.perf_counter()
    device = distributed.device_for(distributed.current(), options.device)
    generator = seed_everything(options.seed)
    spec = get_backbone(options.backbone)
    mode = _mode(options, items, len(class_names), device)
    if mode == "frozen":
        return train_frozen(options.resolved(mode, device.type), items, class_names, cache_dir, on_progress, cancel,
                            warm_start, load_extractor=lambda weights: build_feature_extractor(spec, weights.path)[0],
                            device=device, device_name=describe_device(device), requested_mode=options.mode)
    notice = start_run(class_names, items, on_progress)
    weights = pretrained_weights(spec.name) if options.pretrained else None
    if weights is None:
        notice("Training from scratch (no pretrained weights): expect much lower accuracy unless you have "
               "thousands of images per class.")
    requested_mode, options = options.mode, options.resolved(mode, device.type)

    model = load_reported(lambda: build_classifier(spec, len(class_names), weights=weights.path if weights else None,
                                                   dropout=options.dropout), on_progress, cancel)

    job = _Job(options, requested_mode, spec, model, device, generator, class_names, on_progress, cancel, notice)
    job.warm_start = warm_start
    history: list[EpochRecord] = []
    if weights is None:  # from scratch: no pretrained features to probe
        probe = ProbedFeatures(list(items), None, [], 0, 0)
        best = job.start_without_probe(probe.items)
    else:
        # Fine-tuning starts from a linear probe on cached features.
        probe = probe_features(spec, weights.identity, options, list(items), cache_dir, class_names, notice,
                               on_progress, cancel, extractor=model.backbone, device=device)
        best = job.train_head(probe.features, probe.items, history)
    best = job.finetune(probe.items, best, history, probe.skipped)
    return _validated_result(job, best, probe, history, notice.messages, weights, started)


def _mode(options: TrainingOptions, items: Sequence[TrainItem], class_count: int, device: torch.device) -> str:
    """The mode the run takes: "auto" decided; fine-tuning from scratch without pretrained weights."""
    train_counts = Counter(item.label for item in items if item.split == TRAIN)
    mode = options.mode
    if mode == "auto":
        mode = choose_mode([train_counts[c] for c in range(class_count)], device)
    if options.pretrained:
        return mode
    if mode == "frozen" and options.mode == "frozen":
        raise WeightsError("Frozen training needs pretrained weights; choose fine-tuning to train from scratch.")
    return "finetune"


def _validated_result(job: _Job, best: _Best, probe: ProbedFeatures, history: list[EpochRecord],
                      notices: list[str], weights: PretrainedWeights | None, started: float) -> TrainResult:
    """The result of a run judged on the validation split: the kept weights (probe or fine-tuned), calibrated."""
    model, class_names, items = job.model, job.class_names, probe.items
    model.load_state_dict(best.state)
    targets = best.evaluation.targets
    # log p differs from the logits by a constant per row, which softmax ignores: fine for fitting T.
    log_probs = np.log(np.clip(best.evaluation.probabilities, 1e-12, None))
    fit = calibrate(log_probs, targets)
    calibrated = fit.probabilities if len(targets) else best.evaluation.probabilities
    fold_temperature(model.head, fit.temperature)
    metrics = classification_metrics(targets, calibrated, len(class_names))
    kept_mode = "frozen" if best.stage == "head" else "finetune"
    if kept_mode == "frozen":
        job.notice("Fine-tuning did not beat the linear head on the validation images, so the linear head was kept.")
    duration = time.perf_counter() - started
    val_count = sum(item.split == VAL for item in items)
    train_count = len(items) - val_count
    calibration = calibration_record(fit, targets)
    record = TrainingRecord(job.options.as_dict(), job.requested_mode, str(job.device), duration, train_count,
                            val_count, "validation", best.stage, best.epoch, tuple(history), tuple(probe.skipped))
    checkpoint = build_checkpoint(job.spec, numpy_state(model.state_dict()), model.head.config, class_names,
                                  weights, kept_mode, metrics, record, calibration, calibrated, targets)
    val_items = [item for item in items if item.split == VAL]
    val_predicted = best.evaluation.probabilities.argmax(1).tolist()
    if len(val_predicted) != len(val_items):  # an image failed to decode during fine-tuning's evaluation
        val_items, val_predicted = [], []
    return TrainResult(checkpoint, metrics, kept_mode, describe_device(job.device), record, notices, probe.computed,
                       probe.reused, val_items, val_predicted)


@dataclass
class _Best:
    stage: str
    epoch: int
    val_loss: float
    state: dict[str, torch.Tensor]
    evaluation: Evaluation


class _Job:
    """State shared by the stages of one training run."""

    def __init__(self, options: TrainingOptions, requested_mode: str, spec: BackboneSpec, model: Classifier,
                 device: torch.device, generator: torch.Generator, class_names: Sequence[str],
                 on_progress: ProgressCallback | None, cancel: CancelToken | None,
                 notice: Callable[[str], None]) -> None:
        self.options, self.requested_mode, self.spec, self.model = options, requested_mode, spec, model
        self.device, self.generator, self.class_names = device, generator, class_names
        self.on_progress, self.cancel, self.notice = on_progress, cancel, notice
        self.autocast, self.scaler = autocast_for(device)
        self.channels_last = use_channels_last(device)
        self.batch_size = options.batch_size
        self.warm_start: WarmStart | None = None
        self.trained: nn.Module = model  # what fine-tuning steps: the model, or its DistributedDataParallel

    def criterion(self, items: Sequence[TrainItem]) -> nn.Module:
        weight = None
        if self.options.balance_classes:
            counts = Counter(item.label for item in items if item.split == TRAIN)
            total, classes = sum(counts.values()), len(self.class_names)
            # Inverse frequency, so every class weighs the same in the loss however many images it has.
            weight = torch.tensor([total / (classes * max(1, counts[c])) for c in range(classes)],
                                  dtype=torch.float32, device=self.device)
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=self.options.label_smoothing)

    # --- stage 1 of fine-tuning: the linear probe on cached features ---------------------------------------

    def train_head(self, features: np.ndarray, items: Sequence[TrainItem], history: list[EpochRecord]) -> _Best:
        if self.device.type != "cpu":
            return self._train_head(features, items, history)
        threads = torch.get_num_threads()
        # Small matrices: one thread is as fast, and two are ~15x slower while another process keeps a core busy.
        torch.set_num_threads(1)
        try:
            return self._train_head(features, items, history)
        finally:
            torch.set_num_threads(threads)

    def _train_head(self, features: np.ndarray, items: Sequence[TrainItem], history: list[EpochRecord]) -> _Best:
        is_train = np.array([item.split == TRAIN for item in items])
        labels = torch.tensor([item.label for item in items], dtype=torch.long)
        all_features = torch.from_numpy(features)
        train_x, train_y = all_features[is_train].to(self.device), labels[is_train].to(self.device)
        val_x, val_y = all_features[~is_train][:, ORIGINAL].to(self.device), labels[~is_train].to(self.device)
        flat = train_x.flatten(0, 1)
        mean, std = flat.mean(0), flat.std(0, unbiased=False)
        # Floor at the typical spread: a feature (nearly) constant on the few training images would otherwise
        # get a huge weight and swing the logits of any new image where it is not.
        std = std.clamp_min(float(std.mean()) + 1e-6)
        head = self.model.head.to(self.device)
        if self.warm_start is not None:
            apply_warm_start(head, self.warm_start, mean, std)
        probe = nn.Sequential(Standardize(mean, std), head)
        criterion = self.criterion(items)
        optimizer = torch.optim.AdamW(head.parameters(), lr=PROBE_LEARNING_RATE,
                                      weight_decay=self.options.weight_decay)
        epochs, patience = PROBE_EPOCHS, PROBE_PATIENCE
        schedule = WarmupCosine(optimizer, self.options.warmup_fraction)
        batches = FeatureBatches(train_x, train_y, self.batch_size, self.generator)
        val_batches = [(val_x, val_y)]
        best: _Best | None = None
        epoch_times: list[float] = []
        for epoch in range(1, epochs + 1):
            stats = train_one_epoch(
                probe, criterion, optimizer, batches, self.device, cancel=self.cancel,
                before_step=lambda step, e=epoch: schedule.set_progress((e - 1 + step / len(batches)) / epochs))
            evaluation = evaluate(probe, criterion, val_batches, self.device, cancel=self.cancel)
            # Without validation rows (fit_linear_head) every epoch counts as better: the last one is kept.
            improved = best is None or not len(val_y) or evaluation.loss < best.val_loss
            if improved:
                best = _Best("head", epoch, evaluation.loss, _copy_state(probe[1]), evaluation)
            epoch_times.append(stats.seconds)
            self._record(history, "head", epoch, epochs, stats, evaluation, optimizer, improved, epoch_times)
            if patience and epoch - best.epoch >= patience:
                break
        head.load_state_dict(best.state)
        fold_standardization(head, mean, std)
        check_cancel(self.cancel)
        best.state = _copy_state(self.model)
        return best

    def start_without_probe(self, items: Sequence[TrainItem]) -> _Best:
        """From scratch there are no meaningful features to probe: start from the random model."""
        evaluation = self._evaluate_images(self._val_loader(items), self.criterion(items))
        return _Best("head", 0, evaluation.loss, _copy_state(self.model), evaluation)

    # --- stage 2: fine-tuning the last blocks ---------------------------------------------------------------

    def finetune(self, items: Sequence[TrainItem], best: _Best, history: list[EpochRecord],
                 skipped: list[tuple[str, str]]) -> _Best:
        model, options = self.model, self.options
        fraction = options.finetune_fraction if options.pretrained else 1.0
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        trainable = model.freeze_backbone(fraction, freeze_batchnorm=options.pretrained)
        self.trained = distributed.data_parallel(model, self.device)  # after freezing: DDP syncs what trains
        lr = options.learning_rate
        optimizer = torch.optim.AdamW([
            {"params": list(model.head.parameters()), "lr": lr},
            {"params": model.backbone_parameters(), "lr": lr * options.backbone_lr_scale},
        ], weight_decay=options.weight_decay)
        schedule = WarmupCosine(optimizer, max(options.warmup_fraction, 0.1))
        criterion = self.criterion(items)
        train_items = [item for item in items if item.split == TRAIN]
        train_set = ImageDataset([i.path for i in train_items], [i.label for i in train_items],
                                 train_transform(self.spec), decode_size=decode_size(self.spec),
                                 sample_shape=(3, self.spec.input_size, self.spec.input_size))
        train_loader, val_loader = self._train_loader(train_set), self._val_loader(items)
        epochs, patience = options.epochs, options.patience
        self.notice(f"Fine-tuning the last {trainable} of {len(model.units)} blocks of the backbone.")
        unreadable: dict[int, str] = {}
        epoch_times: list[float] = []
        # Patience counts from this stage's own best: the first epochs usually lose to the probe while the
        # backbone adapts, and stopping on that would never let fine-tuning pay off.
        stage_best_loss, stage_best_epoch = math.inf, 0
        with cancel_between_blocks(model.units, self.cancel):
            for epoch in range(1, epochs + 1):
                distributed.start_epoch(train_loader, epoch)

                def attempt(batch_size: int, epoch: int = epoch) -> TrainPassStats:
                    nonlocal train_loader, val_loader
                    if batch_size != self.batch_size:  # the GPU ran out of memory: smaller batches from here on
                        self.batch_size = batch_size
                        train_loader, val_loader = self._train_loader(train_set), self._val_loader(items)
                    return self._finetune_epoch(train_loader, criterion, optimizer, schedule, epoch, epochs,
                                                unreadable)

                def halved(smaller: int) -> None:
                    if distributed.current().distributed:  # the other ranks wait in this step: no retry alone
                        raise PigeonholeError(f"The GPU ran out of memory with batches of {self.batch_size} per "
                                              "process; run again with a smaller --batch-size.")
                    optimizer.zero_grad(set_to_none=True)
                    self.notice(f"The GPU ran out of memory; retrying this epoch with batches of {smaller}.")

                stats = halving_batches(attempt, self.batch_size, self.device, halved)
                # Rank 0's verdict for every rank: the same best epoch and the same early stop keep them in step.
                evaluation = distributed.broadcast_from_main(self._evaluate_images(val_loader, criterion))
                improved = evaluation.loss < best.val_loss
                if improved:
                    best = _Best("finetune", epoch, evaluation.loss, _copy_state(model), evaluation)
                if evaluation.loss < stage_best_loss:
                    stage_best_loss, stage_best_epoch = evaluation.loss, epoch
                epoch_times.append(stats.seconds)
                self._record(history, "finetune", epoch, epochs, stats, evaluation, optimizer, improved, epoch_times)
                if patience and epoch - stage_best_epoch >= patience:
                    break
        for index, reason in unreadable.items():
            skipped.append((str(train_items[index].path), reason))
        return best

    def _train_loader(self, dataset: ImageDataset):
        # Persistent workers: spawning them again every epoch costs seconds on macOS and Windows.
        sampler = distributed.sampler_for(dataset, self.options.seed)  # a distributed run: this rank's share
        return make_loader(dataset, self.batch_size, shuffle=sampler is None, sampler=sampler,
                           num_workers=self.options.num_workers, generator=self.generator, device=self.device,
                           persistent=True)

    def _val_loader(self, items: Sequence[TrainItem]):
        val_items = [item for item in items if item.split == VAL]
        dataset = ImageDataset([i.path for i in val_items], [i.label for i in val_items], eval_transform(self.spec),
                               decode_size=decode_size(self.spec),
                               sample_shape=(3, self.spec.input_size, self.spec.input_size))
        return make_loader(dataset, self.batch_size, num_workers=self.options.num_workers, device=self.device,
                           persistent=True)

    def _finetune_epoch(self, loader, criterion, optimizer, schedule, epoch, epochs, unreadable):
        steps = len(loader)
        start = time.perf_counter()

        def before_step(step: int) -> None:
            schedule.set_progress((epoch - 1 + step / steps) / epochs)

        def after_step(step: int) -> None:
            done = step + 1
            eta = (time.perf_counter() - start) / done * (steps - done)
            emit(self.on_progress, Progress(PHASE_TRAINING, done, steps, eta))

        return train_one_epoch(self.trained, criterion, optimizer, valid_batches(loader, unreadable, self.cancel),
                               self.device, autocast=self.autocast, scaler=self.scaler,
                               clip_grad_norm=self.options.clip_grad_norm, channels_last=self.channels_last,
                               before_step=before_step, after_step=after_step, cancel=self.cancel)

    def _evaluate_images(self, loader, criterion: nn.Module) -> Evaluation:
        emit(self.on_progress, Progress(PHASE_EVALUATING, 0, len(loader.dataset)))
        self.model.to(self.device)
        evaluation = evaluate(self.model, criterion, valid_batches(loader, {}, self.cancel), self.device,
                              autocast=self.autocast, channels_last=self.channels_last, cancel=self.cancel)
        emit(self.on_progress, Progress(PHASE_EVALUATING, len(loader.dataset), len(loader.dataset)))
        return evaluation

    def _record(self, history, stage, epoch, epochs, stats, evaluation, optimizer, improved, epoch_times) -> None:
        lr = optimizer.param_groups[0]["lr"]
        eta = float(np.mean(epoch_times)) * (epochs - epoch)
        record_epoch(history, self.on_progress, EpochRecord(stage, epoch, stats.loss, stats.accuracy, evaluation.loss,
                                                            evaluation.accuracy, lr, stats.seconds),
                     epochs, improved, eta)
        if stage == "head":
            emit(self.on_progress, Progress(PHASE_TRAINING, epoch, epochs, eta))


def _copy_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}

