"""Model ▸ Find Near-Duplicates: groups of (nearly) identical photos, shown in the grid for review."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop.core.browse import ImageFilter, Show
from desktop.ui.context import ProjectContext
from desktop.ui.workers import Worker


class DuplicatesController(QObject):
    message = Signal(str)
    filter_requested = Signal(object)  # ImageFilter
    found = Signal(list)  # list[DuplicateGroup]

    def __init__(self, context: ProjectContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.worker: Worker | None = None

    def find(self) -> None:
        project = self.context.project
        if project is None or self.worker is not None:
            return
        self.message.emit("Looking for near-duplicates…")

        def job(emit, cancel):
            from desktop.core.duplicates import find_duplicates  # torch: in this worker thread

            return find_duplicates(project, on_progress=emit, cancel=cancel)

        self.worker = Worker(job, self)
        self.worker.succeeded.connect(self._on_found)
        self.worker.failed.connect(lambda error: self.message.emit(f"Could not look for duplicates: {error}"))
        self.worker.finished.connect(self._on_finished)
        self.worker.start()

    def _on_found(self, groups: list) -> None:
        self.found.emit(groups)
        if not groups:
            self.message.emit("No near-duplicates: every photo is its own picture.")
            return
        straddling = sum(group.straddles_split for group in groups)
        photos = sum(len(group.image_ids) for group in groups)
        warning = (f" {straddling} of them straddle the train/validation split, which flatters the validation "
                   "accuracy." if straddling else "")
        self.message.emit(f"{len(groups)} groups of near-duplicates ({photos} photos).{warning}")
        ids = tuple(image_id for group in groups for image_id in group.image_ids)
        self.filter_requested.emit(ImageFilter(Show.IDS, image_ids=ids,
                                               title=f"Near-duplicates: {len(groups)} groups, {photos} photos"))

    def _on_finished(self) -> None:
        self.worker = None

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.stop()
