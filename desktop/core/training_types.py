"""What training reports to its callers (GUI, CLI), independent of how the ML layer is built."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from desktop.errors import PigeonholeError

DEFAULT_BACKBONE = "efficientnet_lite0"
MODES = ("auto", "frozen", "finetune")
# desktop.ml.device.DEVICE_CHOICES (kept equal by a test): that module imports torch, this one must not.
DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_SEED = 2**32 - 1  # a range every generator takes (numpy: 32-bit; a 23-digit seed overflows even torch)


class InvalidTrainingOptions(PigeonholeError, ValueError):
    pass


@dataclass(frozen=True)
class TrainingOptions:
    """What to train; an impossible value raises InvalidTrainingOptions here, before any work starts."""

    backbone: str = DEFAULT_BACKBONE
    mode: str = "auto"  # auto picks frozen features for few images per class, fine-tuning for many
    epochs: int | None = None  # None: the mode's default
    learning_rate: float | None = None
    seed: int = 0
    device: str = "auto"
    batch_size: int | None = None  # None: the trainer's default
    # Start the classifier head from the active model's (same backbone), class by class: a retrain then
    # continues where the last model stopped; added classes start fresh, deleted ones are dropped.
    warm_start: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.backbone, str) or not self.backbone:
            raise InvalidTrainingOptions("Choose a backbone by name.")
        if self.mode not in MODES:
            raise InvalidTrainingOptions(f"The training mode must be one of {', '.join(MODES)}, not {self.mode!r}.")
        if self.device not in DEVICES:
            raise InvalidTrainingOptions(f"The device must be one of {', '.join(DEVICES)}, not {self.device!r}.")
        for name, value in (("number of epochs", self.epochs), ("batch size", self.batch_size)):
            if value is not None and (not _is_int(value) or value < 1):
                raise InvalidTrainingOptions(f"The {name} must be a whole number of at least 1, not {value!r}.")
        if self.learning_rate is not None and (
                isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, int | float)
                or not math.isfinite(self.learning_rate) or self.learning_rate <= 0):
            raise InvalidTrainingOptions(
                f"The learning rate must be a number greater than 0, not {self.learning_rate!r}.")
        if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise InvalidTrainingOptions(f"The seed must be a whole number from 0 to {MAX_SEED}, not {self.seed!r}.")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    val_images: int  # the photos val_accuracy was measured on: every one (out-of-fold), or the validation split
    val_accuracy: float | None
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    seconds: float
    history: list[EpochStats] = field(default_factory=list)
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
