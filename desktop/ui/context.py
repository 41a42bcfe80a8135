"""The open project as the GUI sees it: the core Project plus the Qt models views read from.

Controllers change the project through the Qt-free core, then call ``refresh_*`` so every view updates.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.core.browse import ImageFilter
from desktop.core.classes import list_classes
from desktop.core.folders import list_folders
from desktop.core.models_registry import ModelInfo, active_model
from desktop.core.project import Project
from desktop.core.status import ProjectStatus, project_status
from desktop.ui.models.classes import ClassListModel
from desktop.ui.models.images import ImageListModel
from desktop.ui.thumbnails import ThumbnailLoader


class ProjectContext(QObject):
    project_changed = Signal()
    status_changed = Signal(object)  # ProjectStatus
    folders_changed = Signal(list)  # list[FolderInfo]
    model_changed = Signal()
    labelled = Signal(int)  # photos just given a label (not cleared ones): the auto-retrain counts them

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.closed = False  # the window closed: no project opens any more
        self.thumbnails: ThumbnailLoader | None = None
        self.images = ImageListModel(parent=self)
        self.classes = ClassListModel(self)
        self.status: ProjectStatus | None = None
        self.active_model: ModelInfo | None = None
        # Many label changes in a row (holding a key) coalesce into one count refresh.
        self._counts_timer = QTimer(self, singleShot=True, interval=150)
        self._counts_timer.timeout.connect(self.refresh_counts)

    def set_project(self, project: Project | None) -> None:
        if self.closed:  # the window closed before an open finished: start nothing (no job may outlive the app)
            if project is not None:
                project.close()
            return
        old = self.project
        self.project = project
        self.thumbnails = ThumbnailLoader(project.thumbnails, self) if project else None
        self.images.image_filter = ImageFilter()
        self._load_active_model()
        self.images.set_project(project, self.thumbnails)
        self.refresh_folders()
        self.refresh_counts()
        if old is not None and old is not project:
            old.close()
        self.project_changed.emit()

    def close(self) -> None:
        """The window is closing: close the project, and from now on open none."""
        self.closed = True
        if self.project is not None:
            self.project.close()

    def refresh_classes(self) -> None:
        classes = list_classes(self.project) if self.project else []
        self.classes.set_classes(classes)
        self.images.set_classes(classes)

    def refresh_folders(self) -> None:
        self.folders_changed.emit(list_folders(self.project) if self.project else [])

    def refresh_counts(self) -> None:
        """Status-bar and sidebar counts, class counts included."""
        if self.project is None:
            return
        self.refresh_classes()
        self.status = project_status(self.project, broken_limit=0)
        self.status_changed.emit(self.status)

    def labels_changed(self, labels: dict[int, int | None]) -> None:
        self.images.update_labels(labels)
        self._counts_timer.start()
        given = sum(class_id is not None for class_id in labels.values())
        if given:
            self.labelled.emit(given)

    def _load_active_model(self) -> None:
        self.active_model = active_model(self.project) if self.project else None
        self.images.set_prediction_classes(self.active_model.class_names if self.active_model else [])

    def models_changed(self) -> None:
        """A model was trained, activated or deleted, or predictions were stored: re-read what depends on it."""
        self._load_active_model()
        self.images.reload()
        self.model_changed.emit()

    def refresh_all(self) -> None:
        self._load_active_model()
        self.images.reload()
        self.refresh_folders()
        self.refresh_counts()
