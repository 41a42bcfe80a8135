"""A background search over the project whose results the grid then shows (near-duplicates, doubtful labels).

Subclasses say what to run (``search``, in a worker: torch lives there) and how to present what it found
(``present``: a status message and the grid filter to apply, if any).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop.core.browse import ImageFilter
from desktop.core.project import Project
from desktop.ui.context import ProjectContext
from desktop.ui.workers import WorkerSlot


class FinderController(QObject):
    message = Signal(str)
    filter_requested = Signal(object)  # ImageFilter
    found = Signal(list)

    busy_text = "Searching…"
    failed_text = "The search failed"

    def __init__(self, context: ProjectContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.task = WorkerSlot(self)

    def search(self, project: Project, emit, cancel) -> list:
        raise NotImplementedError

    def present(self, results: list) -> tuple[str, ImageFilter | None]:
        raise NotImplementedError

    def find(self) -> None:
        project = self.context.project
        if project is None or self.task.busy:
            return
        self.message.emit(self.busy_text)
        self.task.start(lambda emit, cancel: self.search(project, emit, cancel), on_done=self._on_found,
                        on_failed=lambda error: self.message.emit(f"{self.failed_text}: {error}"))

    def _on_found(self, results: list) -> None:
        self.found.emit(results)
        text, image_filter = self.present(results)
        self.message.emit(text)
        if image_filter is not None:
            self.filter_requested.emit(image_filter)

    def shutdown(self) -> None:
        self.task.shutdown()
