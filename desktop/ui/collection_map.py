"""View ▸ Collection Map: a dock with every photo as a dot at its 2-D map position (``desktop.core.collection_map``,
computed in a worker), coloured by label or by prediction. Hovering shows the photo; a lasso shows the photos it
encloses in the grid, selected, so one class key labels them all.

The dock belongs to the main window (docked or floating), so the class keys keep working while it has focus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDockWidget, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.core.browse import ImageFilter, ImageRow, Show, list_images
from desktop.ui.context import ProjectContext
from desktop.ui.models.images import Role
from desktop.ui.project_jobs import start_project_job
from desktop.ui.widgets.collection_map import UNKNOWN_COLOUR, CollectionMapView, LegendEntry
from desktop.ui.widgets.status_progress import StatusProgress
from desktop.ui.workers import WorkerGroup, WorkerSlot

BY_LABEL, BY_PREDICTION = "label", "prediction"


@dataclass(frozen=True)
class _Computed:
    image_ids: np.ndarray
    xy: np.ndarray
    method: str
    rows: list[ImageRow]  # one per point, for colours, thumbnails and captions


class CollectionMapDock(QDockWidget):
    message = Signal(str)
    filter_requested = Signal(object)  # ImageFilter: the lasso's photos
    select_requested = Signal(list)  # image ids to select once the grid shows them

    def __init__(self, context: ProjectContext, progress: StatusProgress, parent=None) -> None:
        super().__init__("Collection map", parent)
        self.setObjectName("collectionMapDock")
        self.context, self.progress = context, progress
        self.task = WorkerSlot(self)
        self._reads = WorkerGroup(self)  # re-reading labels and predictions after a new model
        self._computed: _Computed | None = None
        self._row_of_id: dict[int, int] = {}

        self.view = CollectionMapView()
        self.view.empty_text = "Computing the map…"
        self.view.thumbnail_for = self._thumbnail
        self.view.caption_for = self._caption
        self.colour_by = QComboBox()
        self.colour_by.addItem("Colour by label", BY_LABEL)
        self.colour_by.addItem("Colour by prediction", BY_PREDICTION)
        self.recompute_button = QPushButton("Recompute")
        self.recompute_button.setToolTip("Place the photos again (after adding photos or training another backbone)")
        self.summary = QLabel()
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)

        bar = QHBoxLayout()
        bar.setContentsMargins(8, 6, 8, 0)
        bar.addWidget(self.colour_by)
        bar.addStretch(1)
        bar.addWidget(self.recompute_button)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        self.setWidget(body)

        self.colour_by.currentIndexChanged.connect(lambda _index: self._colour())
        self.recompute_button.clicked.connect(self.compute)
        self.view.lasso_selected.connect(self._on_lasso)
        progress.cancel_button.clicked.connect(self.task.cancel)
        context.project_changed.connect(self._forget)
        self._connect_thumbnails()
        context.model_changed.connect(self._on_model_changed)
        context.images.dataChanged.connect(self._on_images_changed)

    # -- computing -------------------------------------------------------------------------------------
    def show_map(self) -> None:
        """Show the dock; compute the map the first time (or after the photos changed)."""
        self.show()
        self.raise_()
        if self._computed is None:
            self.compute()

    def compute(self) -> None:
        def place(project, emit, cancel) -> _Computed:
            from desktop.core.collection_map import compute_map  # torch: in the worker thread

            placed = compute_map(project, on_progress=emit, cancel=cancel)
            rows = {row.id: row for row in list_images(project, ImageFilter(Show.ALL))}
            keep = np.array([int(image_id) in rows for image_id in placed.image_ids], bool)
            ids = np.asarray(placed.image_ids, np.int64)[keep]
            return _Computed(ids, np.asarray(placed.xy, np.float32)[keep], placed.method,
                             [rows[int(image_id)] for image_id in ids])

        if start_project_job(self.task, self.context, self.progress, place, starting="Placing the photos on the map…",
                             step=lambda event: f"Map: {event.done:,} of {event.total:,}", on_done=self._show,
                             on_failed=self._on_failed,
                             on_cancelled=lambda: self.message.emit("Stopped the map.")):
            self.view.empty_text = "Computing the map…"
            self.view.update()

    def _on_failed(self, error: str) -> None:
        self.view.empty_text = f"No map: {error}"
        self.view.update()
        self.message.emit(f"Could not make the map: {error}")

    def _show(self, computed: _Computed) -> None:
        self._computed = computed
        self._row_of_id = {row.id: i for i, row in enumerate(computed.rows)}
        self.view.empty_text = "No photos to place yet."
        self.view.set_points(computed.image_ids, computed.xy, *self._categories())
        self.summary.setText(f"{len(computed.rows):,} photos placed by {computed.method}: similar photos lie close "
                             "together. Drag a loop around photos to show them in the grid.")

    def _connect_thumbnails(self) -> None:
        """Each project has its own thumbnail loader: the hover card repaints when its photo arrives."""
        if self.context.thumbnails is not None:
            self.context.thumbnails.loaded.connect(lambda _hash: self.view.refresh_hover())

    def _forget(self) -> None:
        self._connect_thumbnails()
        self.task.cancel()
        self._computed = None
        self._row_of_id = {}
        self.view.set_points(np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros(0, np.int64), [])
        if self.isVisible() and self.context.project is not None:
            self.compute()

    def _on_model_changed(self) -> None:
        """New predictions: colouring by prediction changes; the places stay."""
        computed, project = self._computed, self.context.project
        if computed is None or project is None:
            return

        def recolour(fresh: dict[int, ImageRow]) -> None:
            if self._computed is computed:
                computed.rows[:] = [fresh.get(row.id, row) for row in computed.rows]
                self._colour()

        self._reads.start(lambda _emit, _cancel: {row.id: row for row in list_images(project, ImageFilter(Show.ALL))},
                          on_done=recolour)

    # -- colours ---------------------------------------------------------------------------------------
    def _categories(self) -> tuple[np.ndarray, list[LegendEntry], str]:
        rows = self._computed.rows if self._computed else []
        classes = self.context.classes.classes
        if self.colour_by.currentData() == BY_PREDICTION:
            colour_of = {c.name: c.colour for c in classes}
            names = self.context.images.prediction_classes
            legend = [LegendEntry(name, colour_of.get(name, UNKNOWN_COLOUR)) for name in names]
            values = [row.predicted_index if row.predicted_index is not None and row.predicted_index < len(names)
                      else -1 for row in rows]
        else:
            position = {c.id: i for i, c in enumerate(classes)}
            legend = [LegendEntry(c.name, c.colour) for c in classes]
            values = [position.get(row.class_id, -1) for row in rows]
        uncategorised = "Not predicted" if self.colour_by.currentData() == BY_PREDICTION else "Unlabelled"
        return np.array(values, np.int64), legend, uncategorised

    def _colour(self) -> None:
        self.view.set_colouring(*self._categories())

    def _on_images_changed(self, top_left, bottom_right, roles) -> None:
        """Labels given in the grid recolour their dots."""
        if self._computed is None or Role.LABEL not in roles:
            return
        images = self.context.images
        changed = False
        for row in range(top_left.row(), bottom_right.row() + 1):
            image = images.row_at(row)
            point = self._row_of_id.get(image.id)
            if point is not None:
                self._computed.rows[point].class_id = image.class_id
                changed = True
        if changed:
            self._colour()

    # -- hover and lasso -------------------------------------------------------------------------------
    def _thumbnail(self, point: int):
        thumbnails = self.context.thumbnails
        return thumbnails.get(self._computed.rows[point].content_hash) if thumbnails and self._computed else None

    def _caption(self, point: int) -> str:
        if self._computed is None:
            return ""
        row = self._computed.rows[point]
        label = next((c.name for c in self.context.classes.classes if c.id == row.class_id), None)
        return f"{row.name} · {label}" if label else row.name

    def _on_lasso(self, image_ids: list[int]) -> None:
        if not image_ids:
            return
        self.filter_requested.emit(ImageFilter(Show.IDS, image_ids=tuple(image_ids),
                                               title=f"From the map: {len(image_ids):,} photos"))
        self.select_requested.emit(image_ids)
        self.message.emit(f"{len(image_ids):,} photos from the map are selected: a class key labels them all.")

    def shutdown(self) -> None:
        self.task.shutdown()
        self._reads.shutdown()
