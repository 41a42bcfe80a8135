"""What every long job (import, training, prediction, sorting, checks) tells its caller while it runs, and how the
caller stops it: shared by every layer below the GUI, like ``desktop.errors``, so the database-free ``io`` could use
them as well as ``core`` and ``ml``.

Events are small frozen dataclasses passed to an ``on_progress`` callback; the callback runs in the
worker thread, so a Qt adapter only has to re-emit them as signals. Cancellation is cooperative: any
object with ``is_set()`` (``threading.Event`` is the obvious one) is polled between batches and, through
forward hooks, between the blocks of a network, so a slow CPU batch does not delay a cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from desktop.errors import Cancelled  # re-exported: the ML layer's jobs raise it


class CancelToken(Protocol):
    """How every long job (import, training, prediction, sorting) is told to stop: polled, never pushed."""

    def is_set(self) -> bool: ...


class NeverCancel:
    """The token of a job nobody can stop, so loops poll one object instead of testing for None."""

    def is_set(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Progress:
    """``done`` of ``total`` units of ``phase`` (images, batches); ``done == 0`` announces a phase."""

    phase: str  # one of the PHASE_* names below
    done: int
    total: int
    eta_seconds: float | None = None  # for the whole phase, None until there is a rate to go by


@dataclass(frozen=True, slots=True)
class EpochEnd:
    epoch: int  # 1-based
    epochs: int  # planned; early stopping may end sooner
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    learning_rate: float
    seconds: float
    improved: bool  # the validation loss is the best so far: these weights are the ones kept
    eta_seconds: float | None
    stage: str = "train"  # "head" (linear probe on cached features) or "finetune"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know that does not stop the job (skipped images, a smaller batch)."""

    message: str


Event = Progress | EpochEnd | Notice
ProgressCallback = Callable[[Event], None]

PHASE_LOADING = "loading backbone"
PHASE_FEATURES = "computing features"
PHASE_TRAINING = "training"
PHASE_EVALUATING = "evaluating"
PHASE_CROSS_VALIDATING = "cross-validating"
PHASE_PREDICTING = "predicting"
PHASE_DOWNLOADING = "downloading weights"


def check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def emit(on_progress: ProgressCallback | None, event: Event) -> None:
    if on_progress is not None:
        on_progress(event)


class RateTimer:
    """Estimates the time left from the average rate so far (steady work: batches of equal size)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.start = time.perf_counter()

    def eta(self, done: int) -> float | None:
        if done <= 0:
            return None
        elapsed = time.perf_counter() - self.start
        return max(0.0, elapsed / done * (self.total - done))


class PhaseProgress:
    """Calling it with ``done`` tells ``on_progress`` that many of ``total`` units of ``phase`` are done, with the
    time left at the rate so far (none while the total is unknown: 0)."""

    def __init__(self, on_progress: ProgressCallback | None, phase: str, total: int) -> None:
        self.on_progress, self.phase, self.total = on_progress, phase, total
        self.timer = RateTimer(total)

    def __call__(self, done: int) -> None:
        emit(self.on_progress, Progress(self.phase, done, self.total, self.timer.eta(done) if self.total else None))
