"""The window's controllers, built in one place (the composition root) and kept as one set the window iterates:
their status messages, what keeps the open project from changing, and the shutdown on close.

Each controller owns one kind of work over the open project (labelling, importing, training, predicting, sorting,
checking photos, ...). What one controller's result starts in another — a new model predicts every photo, an
import predicts its new photos and forgets the similarity index — is wired here too, so the window only lays out
widgets, menus and views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMainWindow

from desktop.ui.class_actions import ClassActions
from desktop.ui.collection_map import CollectionMapDock
from desktop.ui.context import ProjectContext
from desktop.ui.duplicates import DuplicatesController
from desktop.ui.explain import ExplainController
from desktop.ui.health import HealthController
from desktop.ui.importing import ImportController
from desktop.ui.label_review import LabelReviewController
from desktop.ui.labelling import LabellingController
from desktop.ui.predicting import PredictController
from desktop.ui.similar import SimilarController
from desktop.ui.sorting import SortController
from desktop.ui.tagging import TaggingController
from desktop.ui.training_panel import TrainingController

if TYPE_CHECKING:
    from desktop.ui.importing import ImportProgressWidget
    from desktop.ui.training_panel import TrainPanel
    from desktop.ui.widgets.grid import ThumbnailGrid
    from desktop.ui.widgets.preview import PreviewPanel
    from desktop.ui.widgets.status_progress import StatusProgress


@dataclass(frozen=True)
class WindowParts:
    """What the controllers work on: the window (their Qt parent, and the parent of their dialogs), the open
    project, the views and the status bar's progress lines."""

    window: QMainWindow
    context: ProjectContext
    grid: ThumbnailGrid
    preview: PreviewPanel
    train_panel: TrainPanel
    import_progress: ImportProgressWidget
    predict_progress: StatusProgress
    similar_progress: StatusProgress
    health_progress: StatusProgress
    map_progress: StatusProgress


@runtime_checkable
class RunsInBackground(Protocol):
    """A controller with workers: on close it cancels them and waits (a few seconds at most)."""

    def shutdown(self) -> None: ...


@dataclass(eq=False)
class Controllers:
    labelling: LabellingController
    importer: ImportController
    class_actions: ClassActions
    tagging: TaggingController
    training: TrainingController
    explain: ExplainController
    predicting: PredictController
    duplicates: DuplicatesController
    label_review: LabelReviewController
    sorting: SortController
    similar: SimilarController
    health: HealthController
    collection_map: CollectionMapDock

    @classmethod
    def build(cls, parts: WindowParts) -> Controllers:
        """Each controller with the part of the window it works on; the window is their Qt parent."""
        window, context, grid = parts.window, parts.context, parts.grid
        labelling = LabellingController(context, grid, window)
        controllers = cls(
            labelling=labelling,
            importer=ImportController(context, parts.import_progress, window),
            class_actions=ClassActions(context, window),
            tagging=TaggingController(context, window),
            training=TrainingController(context, parts.train_panel, window),
            explain=ExplainController(context, parts.preview, window),
            predicting=PredictController(context, parts.predict_progress, window),
            duplicates=DuplicatesController(context, window),
            label_review=LabelReviewController(context, window),
            sorting=SortController(context, window),
            similar=SimilarController(context, grid, parts.similar_progress, window),
            health=HealthController(context, grid, labelling.undo_stack, parts.health_progress, window),
            collection_map=CollectionMapDock(context, parts.map_progress, window),
        )
        controllers._connect_workflows()
        return controllers

    def __iter__(self) -> Iterator[QObject]:
        return (getattr(self, field.name) for field in fields(self))

    def _connect_workflows(self) -> None:
        """What one controller's result starts in another."""
        context = self.training.context
        self.training.trained.connect(lambda _summary: self.use_new_model())
        self.importer.finished.connect(self._after_import)
        self.health.photos_removed.connect(self.similar.forget_index)
        self.class_actions.restructured.connect(self.labelling.undo_stack.clear)  # undoing them would mislabel
        for notes in (self.similar.notes_changed, self.health.notes_changed):
            notes.connect(context.images.set_notes)
        for groups in (self.health.groups_changed, self.duplicates.groups_changed):
            groups.connect(context.images.set_groups)

    def use_new_model(self) -> None:
        """Another model is active (trained, or chosen in Model Versions): re-read it, then predict every photo
        with it in the background (photos it already predicted are skipped) — the grid, the bars, "Label next"."""
        self.training.context.models_changed()
        self.predicting.predict()

    def _after_import(self, summary) -> None:
        self.similar.forget_index()  # new photos: the index of photos alike is built again when asked
        if summary.imported and self.training.context.active_model is not None:
            self.predicting.predict()  # new or changed photos get the active model's predictions, as after training

    def connect_messages(self, show: Callable[[str], None]) -> None:
        for controller in self:
            controller.message.connect(show)

    def project_work(self) -> list[str]:
        """The running work that writes to the open project, in words ("the import"): another project may open only
        when none runs. Searches and maps only read: they are dropped when the project changes."""
        running = {"the import": self.importer.busy, "training": self.training.busy,
                   "predicting": self.predicting.busy, "the sort": self.sorting.busy,
                   "writing keywords": self.tagging.busy, "moving duplicates aside": self.health.resolver.busy}
        return [what for what, busy in running.items() if busy]

    def shutdown(self) -> None:
        """The window is closing: every controller's workers are cancelled and waited for."""
        for controller in self:
            if isinstance(controller, RunsInBackground):
                controller.shutdown()
