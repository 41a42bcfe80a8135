"""What a training run tells as it goes, in either mode (``frozen``, ``trainer``): its notices, kept for the result
and reported as each comes, the minimum-data check's warnings first; the loading step before any work; and each
epoch, kept in the history and reported with the same figures. Pure Python: the torch-free frozen path uses it too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from desktop.ml.splits import check_enough_data
from desktop.ml.train_record import EpochRecord, TrainItem
from desktop.progress import (
    PHASE_LOADING,
    CancelToken,
    EpochEnd,
    Notice,
    Progress,
    ProgressCallback,
    check_cancel,
    emit,
)

T = TypeVar("T")


class Notices:
    """A run's notices: calling it with a sentence keeps it (``messages``, what the result says) and reports it."""

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self.on_progress = on_progress
        self.messages: list[str] = []

    def __call__(self, message: str) -> None:
        self.messages.append(message)
        emit(self.on_progress, Notice(message))


def check_items(class_names: Sequence[str], items: Sequence[TrainItem]) -> list[str]:
    """``splits.check_enough_data`` of a run's items: NotEnoughData, or the warnings that do not block it."""
    return check_enough_data(class_names, [item.label for item in items], [item.split for item in items])


def start_run(class_names: Sequence[str], items: Sequence[TrainItem],
              on_progress: ProgressCallback | None) -> Notices:
    """The notices of a run whose items pass the minimum-data check (NotEnoughData otherwise), its warnings first."""
    notices = Notices(on_progress)
    for warning in check_items(class_names, items):
        notices(warning)
    return notices


def load_reported(load: Callable[[], T], on_progress: ProgressCallback | None, cancel: CancelToken | None) -> T:
    """``load()`` (the backbone, the model) reported as the loading phase, 0 of 1 then 1 of 1; a cancel before it
    stops the run."""
    emit(on_progress, Progress(PHASE_LOADING, 0, 1))
    check_cancel(cancel)
    loaded = load()
    emit(on_progress, Progress(PHASE_LOADING, 1, 1))
    return loaded


def record_epoch(history: list[EpochRecord], on_progress: ProgressCallback | None, record: EpochRecord, epochs: int,
                 improved: bool, eta_seconds: float | None) -> None:
    """An epoch's figures, kept in the run's ``history`` and reported as they are (``epochs``: of its stage, as
    planned; ``improved``: its weights are the best so far)."""
    history.append(record)
    emit(on_progress, EpochEnd(record.epoch, epochs, record.train_loss, record.train_accuracy, record.val_loss,
                               record.val_accuracy, record.learning_rate, record.seconds, improved, eta_seconds,
                               record.stage))
