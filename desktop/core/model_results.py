"""A trained model's results, kept in its ``models`` row and read back without torch.

Training stores ``results_fields`` in the row's ``metrics`` JSON beside the trainer's own metrics (accuracy,
per-class figures, confusion matrix, reliability); ``summary_of`` turns the row back into the
``TrainingSummary`` the Train tab shows after a run, so a reopened project shows the same figures from the same
source. A row written before a figure was recorded gives what it has and names the rest in ``not_recorded``.

``describe_model`` and friends are the plain words for what a model is ("Fast (EfficientNet-Lite0), frozen
features, on the CPU"), shared by the Train tab and the model versions dialog.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from desktop.core.models_registry import ModelInfo
from desktop.core.training_types import CurvePoint, HeldOutPrediction, TrainingSummary

# Registry names (desktop.ml.backbones, which imports torch) in the words a user reads.
_BACKBONE_NAMES = {
    "efficientnet_lite0": "Fast (EfficientNet-Lite0)",
    "efficientnet_lite0_lite1": "Accurate (EfficientNet-Lite0 + Lite1)",
    "efficientnet_lite1": "EfficientNet-Lite1",
    "efficientnet_lite2": "EfficientNet-Lite2",
    "efficientnet_lite3": "EfficientNet-Lite3",
    "efficientnet_lite4": "EfficientNet-Lite4",
    "resnet18": "ResNet-18",
    "resnet50": "ResNet-50",
    "mobilenet_v3_large": "MobileNetV3-Large",
    "efficientnet_b0": "EfficientNet-B0",
    "densenet121": "DenseNet-121",
}
_MODE_NAMES = {"frozen": "frozen features", "finetune": "fine-tuned"}
_DEVICE_NAMES = {"cpu": "on the CPU", "cuda": "on the GPU", "mps": "on the Apple GPU"}


def backbone_name(backbone: str) -> str:
    return _BACKBONE_NAMES.get(backbone, backbone)


def mode_name(mode: str) -> str:
    return _MODE_NAMES.get(mode, mode)


def device_name(device: str) -> str:
    return _DEVICE_NAMES.get(device.split(":")[0], f"on {device}")


def describe_model(backbone: str, mode: str, device: str) -> str:
    """"Fast (EfficientNet-Lite0), frozen features, on the CPU"."""
    return f"{backbone_name(backbone)}, {mode_name(mode)}, {device_name(device)}"


def trained_when(created_utc: datetime) -> str:
    """The models table stores UTC without a zone: "7 Dec 2026, 16:40" in the computer's time."""
    local = created_utc.replace(tzinfo=UTC).astimezone()
    return f"{local.day} {local:%b %Y, %H:%M}"


def evaluation_source(evaluation: str) -> str:
    """Where a model's figures come from, in words (the final model's predictions on the grid differ)."""
    if evaluation == "out-of-fold":
        return "out-of-fold: each photo predicted by a model trained without it"
    return "the final model on the validation photos it did not train on"


# -- writing -------------------------------------------------------------------------------------------------


def results_fields(history: Sequence[CurvePoint], held_out: dict[int, HeldOutPrediction],
                   notes: Sequence[str]) -> dict:
    """What the Train tab needs beyond the trainer's metrics, as plain JSON for the row's ``metrics``: the
    curves, each evaluated photo's held-out prediction (columns, to stay small) and the run's notes."""
    ids = list(held_out)
    return {
        "curves": [[point.epoch, _number(point.train_loss), _number(point.train_accuracy),
                    _number(point.val_loss), _number(point.val_accuracy)] for point in history],
        "held_out": {"ids": ids, "true": [held_out[i].true_index for i in ids],
                     "predicted": [held_out[i].predicted_index for i in ids],
                     # Unrounded: the sort's thresholds are these values, compared with new photos' confidences.
                     "confidence": [None if held_out[i].confidence is None else float(held_out[i].confidence)
                                    for i in ids]},
        "notes": list(notes),
    }


def _number(value: float) -> float | None:
    """JSON has no NaN: an epoch without a held-out figure is stored as null."""
    return None if value is None or not math.isfinite(value) else float(f"{value:.6g}")


# -- reading -------------------------------------------------------------------------------------------------


def summary_of(model: ModelInfo) -> TrainingSummary:
    """The model's results as the Train tab shows them, from its row alone (no torch, no model file)."""
    metrics, classes = model.metrics, list(model.class_names)
    missing: list[str] = []
    per_class = _per_class(metrics, classes)
    if not per_class:
        missing.append("the per-class figures")
    confusion = metrics.get("confusion") or []
    if len(confusion) != len(classes):
        confusion = []
        missing.append("the confusion matrix")
    history = _curves(metrics.get("curves"))
    if "curves" not in metrics:
        missing.append("the training curves")
    held_out = _held_out(metrics.get("held_out"), len(classes))
    if "held_out" not in metrics and confusion:
        missing.append("which photos are in each cell of the confusion matrix")
    reliability = metrics.get("reliability") or {}
    if not reliability:
        missing.append("the reliability diagram")
    top_k = metrics.get("top_k")
    top_k_accuracy = metrics.get("top_k_accuracy")
    confusion_images: dict[tuple[int, int], list[int]] = defaultdict(list)
    for image_id, prediction in held_out.items():
        confusion_images[(prediction.true_index, prediction.predicted_index)].append(image_id)
    return TrainingSummary(
        model_id=model.id, backbone=model.backbone, mode=model.mode, device=model.device, classes=classes,
        train_images=model.train_images, val_images=model.val_images, val_accuracy=model.val_accuracy,
        per_class=per_class, confusion=confusion, seconds=model.seconds, history=history,
        top_k={str(top_k): top_k_accuracy} if top_k and top_k_accuracy is not None else {},
        confusion_images=dict(confusion_images), notes=[str(note) for note in metrics.get("notes", [])],
        evaluation=metrics.get("evaluation", "validation"), folds=metrics.get("folds"),
        temperature=metrics.get("temperature", 1.0), ece=metrics.get("ece"),
        ece_uncalibrated=metrics.get("ece_uncalibrated"), reliability=reliability, held_out=held_out,
        calibration=metrics.get("calibration") if isinstance(metrics.get("calibration"), dict) else {},
        trained_at=model.created, not_recorded=missing)


def _per_class(metrics: dict, classes: list[str]) -> dict[str, dict[str, float]]:
    columns = [metrics.get(key) for key in ("precision", "recall", "f1", "support")]
    if any(not isinstance(column, list) or len(column) != len(classes) for column in columns):
        return {}
    precision, recall, f1, support = columns
    return {name: {"precision": round(precision[i], 4), "recall": round(recall[i], 4), "f1": round(f1[i], 4),
                   "support": support[i]} for i, name in enumerate(classes)}


def _curves(stored) -> list[CurvePoint]:
    points = []
    for row in stored or []:
        if isinstance(row, list) and len(row) == 5:
            epoch, *values = row
            points.append(CurvePoint(int(epoch), *(float("nan") if v is None else float(v) for v in values)))
    return points


def _held_out(stored, class_count: int) -> dict[int, HeldOutPrediction]:
    if not isinstance(stored, dict):
        return {}
    columns = [stored.get(key) or [] for key in ("ids", "true", "predicted", "confidence")]
    if len({len(column) for column in columns}) != 1:
        return {}  # damaged: better no cell photos than wrong ones
    return {int(image_id): HeldOutPrediction(int(true), int(predicted), confidence)
            for image_id, true, predicted, confidence in zip(*columns, strict=True)
            if 0 <= true < class_count and 0 <= predicted < class_count}
