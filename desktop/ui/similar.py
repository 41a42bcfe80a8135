"""More like this and Select similar: the grid ordered by likeness to a photo, and a selection grown by its
nearest neighbours, both from ``desktop.core.similarity`` in a worker.

The similarity index (every photo's feature vector) is built in the background the first time and kept, so
later queries answer at once; it is dropped when the photos or the active model's backbone may have changed.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop.core.browse import ImageFilter, Show
from desktop.ui.context import ProjectContext
from desktop.ui.models.images import Role
from desktop.ui.project_jobs import start_project_job
from desktop.ui.widgets.grid import ThumbnailGrid
from desktop.ui.widgets.status_progress import StatusProgress
from desktop.ui.workers import WorkerSlot

SIMILAR_SHOWN = 200  # photos in a "Similar to" view, the photo itself first
GROW_PER_PHOTO = 5  # neighbours each selected photo adds on "Select similar"


class SimilarController(QObject):
    message = Signal(str)
    filter_requested = Signal(object)  # ImageFilter: the grid's new view
    notes_changed = Signal(object)  # dict: image id -> one line for its tooltip ("92% alike")

    def __init__(self, context: ProjectContext, grid: ThumbnailGrid, progress: StatusProgress, parent=None) -> None:
        super().__init__(parent)
        self.context, self.grid, self.progress = context, grid, progress
        self.task = WorkerSlot(self)
        self._index = None  # desktop.core.similarity.SimilarityIndex once built
        progress.cancel_button.clicked.connect(self.cancel)
        context.project_changed.connect(self.forget_index)
        context.model_changed.connect(self.forget_index)  # another backbone may describe the photos

    @property
    def busy(self) -> bool:
        return self.task.busy

    def forget_index(self) -> None:
        """New or changed photos, another project or backbone: the next query builds the index again."""
        self._index = None

    def more_like_this(self) -> None:
        """The current photo, then the photos most like it; a class key labels a selected run of them."""
        current = self.grid.currentIndex()
        if not current.isValid():
            self.message.emit("Select a photo first: More Like This shows the photos most like it.")
            return
        row = current.data(Role.ROW)
        if row.error or row.missing:
            self.message.emit(f"{row.name} cannot be read, so nothing can be compared with it.")
            return

        def present(index) -> None:
            neighbours = index.neighbours(row.id, SIMILAR_SHOWN - 1)
            if not neighbours:
                self.message.emit("No other photo to compare with yet.")
                return
            ids = (row.id, *(image_id for image_id, _score in neighbours))
            self.filter_requested.emit(ImageFilter(Show.IDS, image_ids=ids, review=True,
                                                   title=f"Similar to {row.name} — most alike first"))
            self.notes_changed.emit({image_id: f"{score:.0%} alike {row.name}" for image_id, score in neighbours})
            self.message.emit(f"The {len(neighbours)} photos most like {row.name}, most alike first: select a "
                              "run of them and press a class key.")

        self._with_index(present)

    def select_similar(self) -> None:
        """Grow the selection by each selected photo's nearest neighbours (shown with it if the view lacks them)."""
        selection = self.grid.selectionModel()
        images = self.context.images
        rows = sorted({index.row() for index in selection.selectedIndexes()}) if selection else []
        if not rows and self.grid.currentIndex().isValid():
            rows = [self.grid.currentIndex().row()]
        chosen = [images.row_at(row).id for row in rows if not images.row_at(row).error]
        if not chosen:
            self.message.emit("Select a photo first: Select Similar adds the photos most like the selection.")
            return

        def present(index) -> None:
            grown = index.grow(chosen, GROW_PER_PHOTO)
            added = len(grown) - len(chosen)
            if not added:
                self.message.emit("No further photo is like the selection.")
                return
            self.message.emit(f"Added {added} photos like the {len(chosen)} selected: a class key labels all "
                              f"{len(grown)}.")
            if any(images.row_of(image_id) is None for image_id in grown):  # not all in view: show them
                self.filter_requested.emit(ImageFilter(Show.IDS, image_ids=tuple(grown), review=True,
                                                       title=f"{len(chosen)} selected and {added} photos like them"))
            self.grid.select_ids(grown)

        self._with_index(present)

    def _with_index(self, present) -> None:
        """Run ``present(index)`` now if the index is built, else after building it in the background."""
        if self._index is not None:
            present(self._index)
            return
        def build(project, emit, cancel):
            from desktop.core.collection_features import build_index  # torch: in the worker thread

            return build_index(project, on_progress=emit, cancel=cancel)

        def done(index) -> None:
            self._index = index
            present(index)

        start_project_job(self.task, self.context, self.progress, build, starting="Reading the photos' features…",
                          step=lambda event: f"Reading features {event.done:,} of {event.total:,}", on_done=done,
                          on_failed=lambda error: self.message.emit(f"Could not compare the photos: {error}"),
                          on_cancelled=lambda: self.message.emit("Stopped comparing the photos."))

    def cancel(self) -> None:
        self.task.cancel()

    def shutdown(self) -> None:
        self.task.shutdown()
