"""What training reports to its callers (GUI, CLI), independent of how the ML layer is built; what a run asks
for is ``desktop.ml.options.TrainingOptions``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CurvePoint:
    """One epoch on the Train tab's loss and accuracy curves."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass(frozen=True)
class TrainingProgress:
    phase: str  # "preparing", "features", "training", "evaluating"
    message: str
    done: int = 0  # within the phase
    total: int = 0
    epoch: int = 0
    epochs: int = 0
    eta_seconds: float | None = None
    history: tuple[CurvePoint, ...] = ()


@dataclass(frozen=True)
class HeldOutPrediction:
    """What a model that had not seen a photo predicted for it: the reason it sits in its confusion-matrix cell
    (frozen: out-of-fold; fine-tuning: the validation split)."""

    true_index: int
    predicted_index: int
    confidence: float | None  # the predicted class's probability; None when it was not recorded


@dataclass
class TrainingSummary:
    model_id: int
    backbone: str
    mode: str
    device: str
    classes: list[str]
    train_images: int
    val_images: int  # the photos val_accuracy was measured on: every one (out-of-fold), or the validation split
    val_accuracy: float | None
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    seconds: float
    history: list[CurvePoint] = field(default_factory=list)
    top_k: dict[str, float] = field(default_factory=dict)
    # (true index, predicted index) -> validation image ids, so a confusion-matrix cell can show its images
    confusion_images: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. "batch size halved after running out of GPU memory"
    # "out-of-fold" (frozen: every labelled photo predicted by a head that did not see it, over `folds` folds;
    # the final model is then trained on all of them) or "validation" (fine-tuning: the validation split).
    evaluation: str = "validation"
    folds: int | None = None
    temperature: float = 1.0  # calibration: the logits are divided by it (folded into the saved model)
    ece: float | None = None  # expected calibration error (10 bins), calibrated, on the evaluated photos
    ece_uncalibrated: float | None = None
    reliability: dict = field(default_factory=dict)  # per confidence bin: counts, confidence, accuracy
    # calibration.Calibration.to_dict(): whether the temperature was kept (only where it improved the held-out
    # fit) and the fit before and after; {} for models from before it was recorded
    calibration: dict = field(default_factory=dict)
    # image id -> its held-out prediction (what put it in its confusion-matrix cell)
    held_out: dict[int, HeldOutPrediction] = field(default_factory=dict)
    trained_at: datetime | None = None
    # What an older models row lacks, in words ("the training curves"): the panel says it was not recorded.
    not_recorded: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "model_id": self.model_id,
            "backbone": self.backbone,
            "mode": self.mode,
            "device": self.device,
            "classes": self.classes,
            "train_images": self.train_images,
            "val_images": self.val_images,
            "val_accuracy": self.val_accuracy,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "seconds": round(self.seconds, 2),
            "evaluation": self.evaluation,
            "oof_accuracy": self.val_accuracy if self.evaluation == "out-of-fold" else None,
            "oof_images": self.val_images if self.evaluation == "out-of-fold" else 0,
            "folds": self.folds,
            "ece": self.ece,
            "temperature": self.temperature,
        }
