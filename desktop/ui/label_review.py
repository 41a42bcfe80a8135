"""Model ▸ Review Likely Label Mistakes: the labelled photos whose label is most likely wrong, most suspicious
first, in the grid with their bar charts; K keeps a label, a class key changes it, both move on."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop.core.browse import ImageFilter, Show
from desktop.ui.context import ProjectContext
from desktop.ui.workers import Worker


class LabelReviewController(QObject):
    message = Signal(str)
    filter_requested = Signal(object)  # ImageFilter
    found = Signal(list)  # list[LabelIssue]

    def __init__(self, context: ProjectContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.worker: Worker | None = None

    def find(self) -> None:
        project = self.context.project
        if project is None or self.worker is not None:
            return
        self.message.emit("Looking for labels that are likely wrong…")

        def job(emit, cancel):
            from desktop.core.label_issues import find_label_issues  # torch: in this worker thread

            return find_label_issues(project, on_progress=emit, cancel=cancel)

        self.worker = Worker(job, self)
        self.worker.succeeded.connect(self._on_found)
        self.worker.failed.connect(lambda error: self.message.emit(f"Could not check the labels: {error}"))
        self.worker.finished.connect(self._on_finished)
        self.worker.start()

    def _on_found(self, issues: list) -> None:
        self.found.emit(issues)
        if not issues:
            self.message.emit("No label looks wrong.")
            return
        self.message.emit(f"{len(issues)} labels look doubtful, most suspicious first: K keeps a label, a class "
                          "key changes it.")
        self.filter_requested.emit(ImageFilter(Show.IDS, image_ids=tuple(i.image_id for i in issues), review=True,
                                               title=f"Review {len(issues)} doubtful labels"))

    def _on_finished(self) -> None:
        self.worker = None

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.stop()
