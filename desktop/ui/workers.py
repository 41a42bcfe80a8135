"""Long work off the GUI thread: a QThread running a Qt-free core function, with typed signals.

The core function receives ``on_progress`` and ``cancel`` (a threading.Event); cancellation is
cooperative, so a worker never has to be terminated mid-write.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from desktop.errors import Cancelled

log = logging.getLogger(__name__)


class Worker(QThread):
    """Runs ``job(on_progress, cancel)`` once. Exactly one of succeeded/failed/cancelled is emitted."""

    progress = Signal(object)  # the job's own progress dataclass
    succeeded = Signal(object)  # the job's result
    failed = Signal(str)  # one sentence for the user
    cancelled = Signal()

    def __init__(self, job: Callable[[Callable[[Any], None], threading.Event], Any], parent: QObject | None = None):
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

    def stop(self, timeout_ms: int = 5000) -> None:
        """Ask the job to stop and wait for it (used when the window closes)."""
        self.cancel()
        self.wait(timeout_ms)
