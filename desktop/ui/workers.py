"""Long work off the GUI thread: a QThread running a Qt-free core function, and one way to run it from a controller.

The core function receives ``on_progress`` and ``cancel`` (a threading.Event); cancellation is
cooperative, so a worker never has to be terminated mid-write.

Controllers never wire a ``Worker`` by hand: ``WorkerSlot`` holds a controller's one running worker (it refuses a
second while one runs), ``WorkerGroup`` several short ones side by side. Both deliver each run's callbacks in the
GUI thread, forget the worker once its thread has finished (so ``on_finished`` may start the next run) and stop
every running worker on shutdown.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QThread, Signal

from desktop.errors import Cancelled

log = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")
ProgressT = TypeVar("ProgressT")
Emit = Callable[[Any], None]  # the job's on_progress: one progress dataclass per call
Job = Callable[[Emit, threading.Event], ResultT]

SHUTDOWN_WAIT_MS = 5000  # how long closing the window waits for a job to notice its cancel


class Worker(QThread):
    """Runs ``job(on_progress, cancel)`` once. Exactly one of succeeded/failed/cancelled is emitted."""

    progress = Signal(object)  # the job's own progress dataclass
    succeeded = Signal(object)  # the job's result
    failed = Signal(str)  # one sentence for the user
    cancelled = Signal()

    def __init__(self, job: Job[Any], parent: QObject | None = None):
        super().__init__(parent)
        self._job = job
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()
        self.requestInterruption()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            result = self._job(self.progress.emit, self._cancel)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # reported to the user, never raised into widgets
            log.error("Background job failed:\n%s", traceback.format_exc())
            self.failed.emit(str(exc) or type(exc).__name__)
        else:
            if self._cancel.is_set() and result is None:
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)

    def stop(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> None:
        """Ask the job to stop and wait for it (used when the window closes)."""
        self.cancel()
        self.wait(timeout_ms)


@dataclass(frozen=True)
class _Callbacks(Generic[ResultT]):
    """What one run calls back, all in the GUI thread; any of them may be left out."""

    on_done: Callable[[ResultT], None] | None = None
    on_failed: Callable[[str], None] | None = None
    on_cancelled: Callable[[], None] | None = None
    on_progress: Callable[[Any], None] | None = None
    on_finished: Callable[[], None] | None = None  # after the one outcome, once the thread has ended
    # The events ``on_progress`` takes (a job's core function may also emit notices and other events): it is
    # called with these only, so it never has to guess what it was given.
    progress_type: type | tuple[type, ...] = object


class _Run(QObject):
    """One worker and its callbacks. A QObject of the GUI thread, so the worker's signals reach it queued there."""

    def __init__(self, group: WorkerGroup, job: Job[Any], callbacks: _Callbacks) -> None:
        super().__init__(group)
        self.group, self.callbacks = group, callbacks
        self.worker = Worker(job, self)
        self.worker.succeeded.connect(self._succeeded)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(self._cancelled)
        self.worker.progress.connect(self._progress)
        self.worker.finished.connect(self._finished)

    def _succeeded(self, result: Any) -> None:
        if self.callbacks.on_done is not None:
            self.callbacks.on_done(result)

    def _failed(self, error: str) -> None:
        if self.callbacks.on_failed is not None:
            self.callbacks.on_failed(error)

    def _cancelled(self) -> None:
        if self.callbacks.on_cancelled is not None:
            self.callbacks.on_cancelled()

    def _progress(self, progress: Any) -> None:
        if self.callbacks.on_progress is not None and isinstance(progress, self.callbacks.progress_type):
            self.callbacks.on_progress(progress)

    def _finished(self) -> None:
        self.worker.wait()  # finished is emitted just before the thread ends: let it end before deleting it
        self.group._forget(self)
        self.deleteLater()
        if self.callbacks.on_finished is not None:
            self.callbacks.on_finished()


class WorkerGroup(QObject):
    """A controller's background jobs, any number at once (short helpers: a list to load, a file to check)."""

    one_at_a_time = False

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runs: list[_Run] = []

    @property
    def workers(self) -> list[Worker]:
        return [run.worker for run in self._runs]

    @property
    def busy(self) -> bool:
        return bool(self._runs)

    def start(self, job: Job[ResultT], *, on_done: Callable[[ResultT], None] | None = None,
              on_failed: Callable[[str], None] | None = None, on_cancelled: Callable[[], None] | None = None,
              on_progress: Callable[[ProgressT], None] | None = None,
              on_finished: Callable[[], None] | None = None,
              progress_type: type[ProgressT] | tuple[type, ...] = object) -> Worker | None:
        """Run ``job`` in a new worker, its callbacks in the GUI thread; the started worker, or None if refused.
        ``on_progress`` receives the job's progress events of ``progress_type`` (default: every event)."""
        if self.one_at_a_time and self._runs:
            return None
        run = _Run(self, job, _Callbacks(on_done, on_failed, on_cancelled, on_progress, on_finished, progress_type))
        self._runs.append(run)
        run.worker.start()
        return run.worker

    def cancel(self) -> None:
        for run in self._runs:
            run.worker.cancel()

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> None:
        """Cancel every running job and wait for each (the window is closing)."""
        for run in list(self._runs):
            run.worker.stop(timeout_ms)

    def _forget(self, run: _Run) -> None:
        if run in self._runs:
            self._runs.remove(run)


class WorkerSlot(WorkerGroup):
    """A controller's one running job: ``start`` refuses a second while one runs (and returns None)."""

    one_at_a_time = True

    @property
    def worker(self) -> Worker | None:
        return self._runs[0].worker if self._runs else None
