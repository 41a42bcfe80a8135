"""Model ▸ Predict: the active model over the project's photos in the background, progress in the status bar.

Runs by itself after every training run, so the grid's predictions and the "Label next" queue always belong to
the active model. Already-predicted photos are skipped in the core, so running it again is cheap.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QShortcut

from desktop.ui.context import ProjectContext
from desktop.ui.shortcuts import key_sequences
from desktop.ui.widgets.status_progress import StatusProgress
from desktop.ui.workers import WorkerSlot
from desktop.wording import plural

if TYPE_CHECKING:
    from desktop.core.predicting import PredictSummary

PROGRESS_INTERVAL = 0.1  # seconds between progress signals


class PredictController(QObject):
    message = Signal(str)
    finished = Signal(object)  # PredictSummary

    def __init__(self, context: ProjectContext, widget: StatusProgress, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.widget = widget
        self.widget.cancel_button.clicked.connect(self.cancel)
        self.widget.cancel_button.setToolTip("Stop predicting (Esc); photos done so far keep their predictions")
        # Esc stops a running prediction; enabled only meanwhile, so Esc is free for everything else.
        self.cancel_shortcut = QShortcut(key_sequences("stop")[0], widget.window(), self.cancel)
        self.cancel_shortcut.setEnabled(False)
        self.task = WorkerSlot(self)
        self._again = False

    @property
    def busy(self) -> bool:
        return self.task.busy

    def predict(self, scope: str | int = "all") -> None:
        project = self.context.project
        if project is None:
            return
        if self.context.active_model is None:
            self.message.emit("Train a model first: predictions come from the active model.")
            return
        if self.task.busy:
            self._again = True  # e.g. a new model arrived while predicting for the old one
            return

        def job(emit, cancel):
            from desktop.core.predicting import predict_project  # torch: in this worker thread

            last = 0.0

            def throttled(progress) -> None:
                nonlocal last
                now = time.monotonic()
                if now - last >= PROGRESS_INTERVAL or progress.done == progress.total:
                    last = now
                    emit(progress)

            return predict_project(project, scope, on_progress=throttled, cancel=cancel)

        self.widget.show_step("Predicting…", 0, 0)
        self.cancel_shortcut.setEnabled(True)
        self.task.start(job, on_progress=self._show_progress, on_done=self._on_done,
                        on_failed=lambda error: self.message.emit(f"Prediction failed: {error}"),
                        on_cancelled=self._on_cancelled, on_finished=self._on_thread_finished)

    def _show_progress(self, progress) -> None:
        eta = f" — about {progress.eta_seconds:.0f} s left" if progress.eta_seconds and progress.eta_seconds >= 1 \
            else ""
        self.widget.show_step(f"Predicting {progress.done:,} of {progress.total:,}{eta}", progress.done,
                              progress.total)

    def cancel(self) -> None:
        if self.task.busy:
            self._again = False
            self.widget.text.setText("Stopping…")
            self.task.cancel()

    def _on_done(self, summary) -> None:
        self.message.emit(done_text(summary))
        self.finished.emit(summary)

    def _on_cancelled(self) -> None:
        self.message.emit("Prediction stopped; the photos done so far keep their predictions.")

    def _on_thread_finished(self) -> None:
        self.cancel_shortcut.setEnabled(False)
        self.widget.hide()
        self.context.models_changed()  # re-read predictions: grid pills, preview bars, counts
        if self._again:
            self._again = False
            self.predict()

    def shutdown(self) -> None:
        self.task.shutdown()


def done_text(summary: PredictSummary) -> str:
    """The status bar's sentence when predicting ends (a model chosen again has its predictions already)."""
    unreadable = f", {len(summary.unreadable):,} could not be read" if summary.unreadable else ""
    if not summary.predicted and not summary.unreadable:
        return "Every photo already has this model's prediction." if summary.already \
            else "There are no photos to predict."
    return f"Predicted {plural(summary.predicted, 'photo')} in {summary.seconds:.1f} s{unreadable}."
