"""“Why this prediction?”: a Grad-CAM heatmap over the previewed photo, toggled with a key (G).

The heatmap is computed in a worker by ``desktop.core.explain`` (torch, the model and the decode live there); only
the newest request counts, so moving through the grid with the overlay on never queues up work.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from desktop.core.browse import ImageRow
from desktop.core.explain import Explanation, LoadedModel, explain_photo
from desktop.ui.context import ProjectContext
from desktop.ui.widgets.preview import PreviewPanel
from desktop.ui.workers import WorkerSlot


class ExplainController(QObject):
    message = Signal(str)
    explained = Signal(int, object)  # image id, desktop.ml.gradcam.Heatmap

    def __init__(self, context: ProjectContext, preview: PreviewPanel, parent=None) -> None:
        super().__init__(parent)
        self.context, self.preview = context, preview
        self.enabled = False
        self.task = WorkerSlot(self)
        self._pending: ImageRow | None = None
        self._model: LoadedModel | None = None  # built in a worker, reused while the model stays
        context.model_changed.connect(self._on_model_changed)

    def toggle(self) -> None:
        self.enabled = not self.enabled
        if not self.enabled:
            self.preview.set_heatmap(None)
            self.message.emit("Heatmap off.")
            return
        if self.context.active_model is None:
            self.enabled = False
            self.message.emit("Train a model first: the heatmap shows where it looks.")
            return
        self.message.emit("Heatmap on: red is where the model sees the predicted class (G to hide).")
        self.show_for(self.preview.row)

    def show_for(self, row: ImageRow | None) -> None:
        """Called whenever the previewed photo changes."""
        if not self.enabled or row is None or row.error or self.context.active_model is None:
            return
        self._pending = row
        if not self.task.busy:
            self._start()

    def _start(self) -> None:
        row, self._pending = self._pending, None
        model_file = self.context.active_model.file
        loaded = self._model

        def job(_emit, _cancel) -> tuple[int, Explanation, QImage]:
            explanation = explain_photo(row.path, model_file, loaded)
            rgba = explanation.overlay
            image = QImage(rgba.data, rgba.shape[1], rgba.shape[0], rgba.shape[1] * 4,
                           QImage.Format.Format_RGBA8888).copy()  # own the pixels: rgba goes away
            return row.id, explanation, image

        self.task.start(job, on_done=self._on_done,
                        on_failed=lambda error: self.message.emit(f"No heatmap for this photo: {error}"),
                        on_finished=self._on_finished)

    def _on_done(self, result: tuple[int, Explanation, QImage]) -> None:
        image_id, explanation, image = result
        self._model = explanation.model
        if self.enabled and self.preview.row is not None and self.preview.row.id == image_id:
            self.preview.set_heatmap(image, explanation.class_name, explanation.heatmap.probability)
            self.explained.emit(image_id, explanation.heatmap)

    def _on_finished(self) -> None:
        if self._pending is not None and self.enabled:
            self._start()

    def _on_model_changed(self) -> None:
        self._model = None
        if self.enabled:
            self.show_for(self.preview.row)

    def shutdown(self) -> None:
        self.task.shutdown()
