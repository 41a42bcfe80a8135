"""Work you can see: the status bar's progress lines, one per kind of background work, shown while it runs whatever
tab is open (clicking a photo during training shows the Photo tab; the run stays in sight down here)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QStatusBar

from desktop.core.training_types import TrainingProgress
from desktop.ui.training_panel import TrainingController, format_eta
from desktop.ui.widgets.status_progress import StatusProgress


def progress_lines(status_bar: QStatusBar, count: int) -> list[StatusProgress]:
    """``count`` progress lines at the status bar's right, each hidden until its work shows a step."""
    lines = [StatusProgress(status_bar) for _ in range(count)]
    for line in lines:
        status_bar.addPermanentWidget(line)
    return lines


def training_status_text(progress: TrainingProgress) -> str:
    """A few words: which epoch, or which step, and the time left."""
    if progress.phase == "training" and progress.epoch and progress.epochs:
        step = f"epoch {progress.epoch} of {progress.epochs}"
    else:
        step = progress.message[:1].lower() + progress.message[1:]
    eta = format_eta(progress.eta_seconds)
    return f"Training: {step}" + (f" — {eta}" if eta else "")


class TrainingStatus(StatusProgress):
    """Training's line: what it does now and a small bar; a click on it opens the Train tab and its curves."""

    def __init__(self, controller: TrainingController, status_bar: QStatusBar, open_tab: Callable[[], None]) -> None:
        super().__init__(status_bar)
        self._open_tab = open_tab
        self.setObjectName("trainingStatus")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Training in the background — click to see its curves on the Train tab")
        self.cancel_button.setToolTip("Stop training; the active model stays as it was")
        self.cancel_button.clicked.connect(controller.cancel)
        controller.progress.connect(self.show_training)
        controller.running_changed.connect(self._on_running)
        status_bar.addPermanentWidget(self)

    def show_training(self, progress: TrainingProgress) -> None:
        if progress.phase != "notice":  # news for the Train tab, not a step
            self.show_step(training_status_text(progress), progress.done, progress.total)

    def _on_running(self, running: bool) -> None:
        if running:
            self.show_step("Training: starting…", 0, 0)
        else:
            self.hide()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._open_tab()
            event.accept()
        else:
            super().mouseReleaseEvent(event)
