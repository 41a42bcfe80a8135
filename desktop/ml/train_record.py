"""What one training run produces: its items and warm start going in, its epochs, its result, and the checkpoint
dict built from them (``build_checkpoint``: plain types and numpy arrays, the schema ``checkpoint.new_checkpoint``
checks) with its calibration record and per-class precision thresholds. Importing it needs no torch: the
torch-free frozen path builds its checkpoint here too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop.ml.calibration import Calibration, reliability
from desktop.ml.checkpoint import HEAD_BIAS, HEAD_WEIGHT, new_checkpoint
from desktop.ml.metrics import ClassificationMetrics
from desktop.ml.precision import HeldOut
from desktop.ml.precision import thresholds as precision_thresholds

if TYPE_CHECKING:
    import torch

    from desktop.ml.backbones import BackboneSpec, PretrainedWeights
    from desktop.ml.model import LinearHead

# Precisions whose per-class thresholds every checkpoint stores (the sort computes any precision from the held-out
# predictions the models row keeps: desktop.ml.precision).
STORED_PRECISIONS = (0.9, 0.95, 0.99)


@dataclass(frozen=True)
class TrainItem:
    path: str | Path
    content_hash: str
    label: int  # index into class_names
    split: str  # "train" or "val"
    key: Any = None  # the caller's id for this image (e.g. a database id), handed back in TrainResult


@dataclass(frozen=True)
class WarmStart:
    """A previous model's head to start from: its (raw-feature) weights, and for each class of the new run the
    row of the old head that meant the same class (None for a new class)."""

    weight: np.ndarray  # (old classes, features) float32
    bias: np.ndarray  # (old classes,) float32
    rows: list[int | None]  # per new class


def warm_start_from(checkpoint: dict[str, Any], rows: list[int | None]) -> WarmStart | None:
    """The head of ``checkpoint`` as a WarmStart, or None when it cannot help (no class in common)."""
    state = checkpoint["state_dict"]
    if HEAD_WEIGHT not in state or all(row is None for row in rows):
        return None
    return WarmStart(np.asarray(state[HEAD_WEIGHT], np.float32), np.asarray(state[HEAD_BIAS], np.float32), rows)


@dataclass(frozen=True)
class EpochRecord:
    stage: str  # "head" or "finetune"
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    learning_rate: float
    seconds: float


@dataclass(frozen=True)
class TrainingRecord:
    """How a run went, in plain types: built once where the run ends (``frozen``, ``trainer``), stored whole as the
    checkpoint's ``training`` and read back from there (``from_dict``); the result, the models row and the reports
    read it. A new figure of a run is a new field here and nowhere else."""

    options: dict[str, Any]  # TrainingOptions.as_dict(), as resolved: what ran
    requested_mode: str  # what was asked ("auto" included)
    device: str  # where it ran: "cpu", "cuda:0", "mps"
    duration_seconds: float
    train_count: int
    val_count: int
    evaluation: str  # "out-of-fold" (frozen: every photo) or "validation" (the split)
    best_stage: str  # "head" or "finetune": the weights kept
    best_epoch: int  # within best_stage; 0 = the linear probe was kept
    history: tuple[EpochRecord, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (path, reason) of unreadable photos
    folds: int | None = None  # cross-validation folds (frozen)
    l2: float | None = None  # the head's L2 strength chosen by cross-validation (frozen)
    iterations: int | None = None  # evaluations of the final fit (frozen)

    def as_dict(self) -> dict[str, Any]:
        """The checkpoint's ``training``: plain types; the frozen-only figures only where there are some."""
        values = asdict(self)
        values["history"] = [asdict(record) for record in self.history]
        values["skipped"] = [list(pair) for pair in self.skipped]
        return {key: value for key, value in values.items()
                if value is not None or key not in ("folds", "l2", "iterations")}

    @classmethod
    def from_dict(cls, values: Any) -> TrainingRecord | None:
        """The record a checkpoint holds, or None when it is not one (an older or damaged file)."""
        if not isinstance(values, dict):
            return None
        try:
            history = tuple(EpochRecord(**record) for record in values.get("history") or ())
            skipped = tuple((str(path), str(reason)) for path, reason in values.get("skipped") or ())
            return cls(dict(values.get("options") or values.get("config") or {}),
                       str(values.get("requested_mode", "")), str(values["device"]),
                       float(values["duration_seconds"]), int(values["train_count"]), int(values["val_count"]),
                       str(values.get("evaluation", "validation")), str(values.get("best_stage", "head")),
                       int(values.get("best_epoch", 0)), history, skipped, values.get("folds"), values.get("l2"),
                       values.get("iterations"))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class TrainResult:
    """A run's outcome: its checkpoint (``record``, ``metrics`` and calibration inside it too), what the run says
    to the user, and the photos its metrics were measured on with each one's held-out prediction."""

    checkpoint: dict[str, Any]  # save with checkpoint.save_checkpoint
    metrics: ClassificationMetrics  # of the kept weights, on the evaluated images
    mode: str  # the mode actually used ("auto" resolved)
    device: str  # in words: "CPU (8 threads)", "GPU: …"
    record: TrainingRecord
    notices: list[str] = field(default_factory=list)
    features_computed: int = 0
    features_reused: int = 0
    # The images the metrics were measured on (frozen: every one, out-of-fold; fine-tuning: the validation
    # split), and the class predicted for each by a model that had not seen it.
    val_items: list[TrainItem] = field(default_factory=list)
    val_predicted: list[int] = field(default_factory=list)

    # What the record and the checkpoint's calibration say, under the names the callers read.
    duration_seconds = property(lambda self: self.record.duration_seconds)
    history = property(lambda self: list(self.record.history))
    best_stage = property(lambda self: self.record.best_stage)
    best_epoch = property(lambda self: self.record.best_epoch)
    train_count = property(lambda self: self.record.train_count)
    val_count = property(lambda self: self.record.val_count)
    skipped = property(lambda self: list(self.record.skipped))
    evaluation = property(lambda self: self.record.evaluation)
    folds = property(lambda self: self.record.folds)
    temperature = property(lambda self: float(self.checkpoint["calibration"]["temperature"]))
    ece = property(lambda self: self.checkpoint["calibration"]["ece"])  # after calibration, evaluated images
    ece_uncalibrated = property(lambda self: self.checkpoint["calibration"]["ece_uncalibrated"])
    reliability = property(lambda self: self.checkpoint["calibration"]["reliability"])  # after calibration

    @property
    def calibration(self) -> dict[str, Any]:
        """The fit: temperature, kept, log-loss and calibration error before and after (Calibration.to_dict())."""
        return {key: self.checkpoint["calibration"][key] for key in CALIBRATION_FIT_KEYS}


CALIBRATION_FIT_KEYS = ("temperature", "kept", "log_loss_before", "log_loss_after", "ece_before", "ece_after")


def calibration_record(fit: Calibration, labels: np.ndarray) -> dict[str, Any]:
    """The checkpoint's record of calibration: ``ece`` and the reliability diagram are the held-out photos' with
    the calibration as kept (the error before, when not kept): the same probabilities the checkpoint stores."""
    return {**fit.to_dict(), "temperature": float(fit.temperature), "ece": fit.ece_after,
            "ece_uncalibrated": fit.ece_before, "reliability": reliability(fit.probabilities, labels).to_dict()}


def head_state(weight: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    """A linear head's state dict (what a frozen model's checkpoint holds) from its weights on raw features."""
    return {HEAD_WEIGHT: np.asarray(weight, np.float32), HEAD_BIAS: np.asarray(bias, np.float32)}


def fold_temperature(head: LinearHead, temperature: float) -> None:
    # softmax((W x + b) / T) = softmax((W / T) x + b / T): the saved head gives calibrated probabilities.
    import torch  # fine-tuning's head: only the full build has one

    with torch.no_grad():
        head.linear.weight.div_(temperature)
        head.linear.bias.div_(temperature)


def numpy_state(state: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """A torch state dict as a checkpoint holds it: numpy copies, on the CPU (bfloat16 as float32)."""
    import torch  # a torch model's weights: only the full build has them

    return {key: (value.detach().cpu().float() if value.dtype == torch.bfloat16 else value.detach().cpu())
            .numpy().copy() for key, value in state.items()}


def build_checkpoint(spec: BackboneSpec, state_dict: Mapping[str, np.ndarray], head_config: dict[str, Any],
                     class_names: Sequence[str], weights: PretrainedWeights | None, mode: str,
                     metrics: ClassificationMetrics, training: TrainingRecord, calibration: dict[str, Any],
                     held_out_probs: np.ndarray, held_out_labels: np.ndarray) -> dict[str, Any]:
    """The checkpoint of a run. ``state_dict``: the classifier's weights as numpy arrays (``numpy_state`` of a torch
    model's, or the head's alone); ``head_config``: ``LinearHead.config`` (in_features, num_classes, dropout).
    ``weights``: the pretrained weights the run started from (None: from scratch).
    A frozen model on pretrained weights keeps only ``head.*``: its backbone is those weights,
    rebuilt from them when the file is loaded; any other keeps the whole state dict."""
    from desktop.ml.features import feature_key

    identity = weights.identity if weights is not None else None
    held_out_labels = np.asarray(held_out_labels, dtype=np.int64)
    held_out = HeldOut.from_probabilities(held_out_probs, held_out_labels) if len(held_out_labels) else None
    thresholds = {str(p): precision_thresholds(held_out, p) if held_out is not None else [None] * len(class_names)
                  for p in STORED_PRECISIONS}
    return new_checkpoint(
        backbone=spec.name,
        weights=weights.field if weights is not None else {"source": "none", "file": None, "identity": None},
        class_names=list(class_names),
        input_size=spec.input_size, resize_size=spec.resize_size, interpolation=spec.interpolation,
        mean=list(spec.mean), std=list(spec.std),
        head=dict(head_config),
        mode=mode,
        # A frozen-mode model's backbone is the pretrained one, so predictions can reuse cached features.
        feature_key=feature_key(spec, identity) if mode == "frozen" and identity else None,
        state_dict={key: np.array(value) for key, value in state_dict.items()
                    if not (mode == "frozen" and identity and not key.startswith("head."))},
        metrics=metrics.to_dict(),
        training=training.as_dict(),
        temperature=float(calibration["temperature"]),  # already folded into the head's weights
        calibration=calibration,
        precision_thresholds=thresholds,
        out_of_fold={"evaluation": training.evaluation,
                     "probabilities": np.array(held_out_probs, np.float32), "labels": held_out_labels.copy()},
    )
