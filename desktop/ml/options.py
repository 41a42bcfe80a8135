"""Training options: one typed, frozen record from the Train tab and the CLI to the trainer, the checkpoint and
the models row.

The caller builds ``TrainingOptions`` (an impossible value raises InvalidTrainingOptions there, before any work
starts); the trainer turns its automatic choices into what runs (``resolved``) and stores ``as_dict()`` in
``checkpoint["training"]["options"]``, the models row shows the same dict, and ``from_dict`` reads it back,
older files' names included. Pure Python (no torch): the GUI builds options on its own thread.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from desktop.errors import PigeonholeError

DEFAULT_BACKBONE = "efficientnet_lite0"
TRAINED_MODES = ("frozen", "finetune")  # what a model is trained as (and its checkpoint["mode"])
MODES = ("auto", *TRAINED_MODES)  # what a run may ask for: "auto" picks one of TRAINED_MODES
DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_SEED = 2**32 - 1  # a range every generator takes (numpy: 32-bit; a 23-digit seed overflows even torch)
DEFAULT_BATCH_SIZE = 32
DEFAULT_FOLDS = 5  # frozen mode's cross-validation
# Fine-tuning's own defaults; frozen mode fits to convergence by L-BFGS (no learning rate or patience).
FINETUNE_EPOCHS, FINETUNE_LEARNING_RATE, FINETUNE_PATIENCE = 8, 3e-4, 3
# Names older model files stored options under (TrainConfig's), read as today's.
_OLD_NAMES = {"lr": "learning_rate"}


class InvalidTrainingOptions(PigeonholeError, ValueError):
    pass


@dataclass(frozen=True)
class TrainingOptions:
    """What to train, and how. None and "auto" are choices the trainer makes (see ``resolved``)."""

    backbone: str = DEFAULT_BACKBONE
    mode: str = "auto"  # auto picks frozen features for few images per class, fine-tuning for many
    epochs: int | None = None  # None: frozen fits to convergence (the cap on L-BFGS iterations); 8 fine-tuning
    learning_rate: float | None = None  # fine-tuning's head learning rate; None: 3e-4
    seed: int = 0
    device: str = "auto"
    batch_size: int | None = None  # None: DEFAULT_BATCH_SIZE
    # Start the classifier head from the active model's (same backbone), class by class: a retrain then
    # continues where the last model stopped; added classes start fresh, deleted ones are dropped.
    warm_start: bool = True
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    patience: int | None = None  # fine-tuning epochs without a better validation loss before stopping; None: 3
    num_workers: int | None = None  # image-decoding processes; None: one per spare core, 0: decode in-thread
    dropout: float = 0.2
    warmup_fraction: float = 0.05
    balance_classes: bool = True  # weight the loss by inverse class frequency
    finetune_fraction: float = 0.3  # trailing share of the backbone's blocks that fine-tuning trains (1 = all)
    backbone_lr_scale: float = 0.3  # backbone learning rate = learning_rate × this
    clip_grad_norm: float | None = 5.0
    mirror_features: bool | None = None  # also cache mirrored views for the head; None: only on a GPU
    pretrained: bool = True  # False trains from random weights (fine-tunes everything; needs far more data)
    folds: int = DEFAULT_FOLDS  # frozen mode's cross-validation (fewer when a class has fewer photos)

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

    def resolved(self, mode: str, device: str) -> TrainingOptions:
        """These options as they run on ``device`` ("cpu", "cuda", "mps") in ``mode`` (one of TRAINED_MODES):
        no "auto" and no default left open, so the checkpoint records what ran."""
        finetune = mode == "finetune"
        return replace(
            self, mode=mode, device=device,
            batch_size=self.batch_size or DEFAULT_BATCH_SIZE,
            epochs=FINETUNE_EPOCHS if finetune and self.epochs is None else self.epochs,
            learning_rate=FINETUNE_LEARNING_RATE if finetune and self.learning_rate is None else self.learning_rate,
            patience=FINETUNE_PATIENCE if finetune and self.patience is None else self.patience,
            mirror_features=device == "cuda" if self.mirror_features is None else self.mirror_features)

    def as_dict(self) -> dict[str, Any]:
        """Plain types only (what a checkpoint and a JSON column hold)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingOptions:
        """Options as ``as_dict`` wrote them, or as older files did (``lr``); names it does not know are
        ignored. Raises InvalidTrainingOptions for an impossible value."""
        known = {field.name for field in fields(cls)}
        renamed = {_OLD_NAMES.get(name, name): value for name, value in values.items()}
        return cls(**{name: value for name, value in renamed.items() if name in known})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
