"""What training reports to its callers (GUI, CLI), independent of how the ML layer is built."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_BACKBONE = "efficientnet_lite0"
MODES = ("auto", "frozen", "finetune")


@dataclass(frozen=True)
class TrainingOptions:
    backbone: str = DEFAULT_BACKBONE
    mode: str = "auto"  # auto picks frozen features for few images per class, fine-tuning for many
    epochs: int | None = None  # None: the mode's default
    learning_rate: float | None = None
    seed: int = 0
    device: str = "auto"
    # Start the classifier head from the active model's (same backbone), class by class: a retrain then
    # continues where the last model stopped; added classes start fresh, deleted ones are dropped.
    warm_start: bool = True


@dataclass(frozen=True)
class EpochStats:
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
    history: tuple[EpochStats, ...] = ()


@dataclass
class TrainingSummary:
    model_id: int
    backbone: str
    mode: str
    device: str
    classes: list[str]
    train_images: int
    val_images: int
    val_accuracy: float | None
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    seconds: float
    history: list[EpochStats] = field(default_factory=list)
    top_k: dict[str, float] = field(default_factory=dict)
    # (true index, predicted index) -> validation image ids, so a confusion-matrix cell can show its images
    confusion_images: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. "batch size halved after running out of GPU memory"

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
        }
