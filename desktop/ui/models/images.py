"""The grid's model: image rows from the project database, with thumbnails and labels as roles."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from PySide6.QtCore import (
    QObject,
    QRunnable,
    Qt,
    QThreadPool,
    Signal,
)

from desktop.core.browse import ImageFilter, ImageRow, count_images, list_images
from desktop.core.classes import ClassInfo
from desktop.core.project import Project
from desktop.ui.models.rows import ListModel
from desktop.ui.thumbnails import ThumbnailLoader


class Role(IntEnum):
    ROW = Qt.ItemDataRole.UserRole + 1  # the ImageRow itself (proxy-safe accessor)
    IMAGE_ID = Qt.ItemDataRole.UserRole + 2
    THUMBNAIL = Qt.ItemDataRole.UserRole + 3  # QImage or None while loading
    LABEL = Qt.ItemDataRole.UserRole + 4  # ClassInfo or None
    PREDICTION = Qt.ItemDataRole.UserRole + 5  # PredictedClass or None
    BADGE = Qt.ItemDataRole.UserRole + 6  # a few words on the tile saying why this view shows it, or None
    GROUP = Qt.ItemDataRole.UserRole + 7  # GroupMark: the duplicate group a tile belongs to, or None


log = logging.getLogger(__name__)

# Above this many images the query (about 1 ms per 1,000 rows) runs off the GUI thread.
BACKGROUND_QUERY_THRESHOLD = 20_000


@dataclass
class _Loaded:
    rows: list[ImageRow] = field(default_factory=list)
    row_of_id: dict[int, int] = field(default_factory=dict)
    rows_of_hash: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    error: str = ""  # why the photos could not be listed (the view is then empty)

    @classmethod
    def indexed(cls, rows: Iterable[ImageRow]) -> _Loaded:
        """``rows`` with the lookups the model keeps beside them (by image id, by content hash)."""
        loaded = cls(list(rows))
        for i, row in enumerate(loaded.rows):
            loaded.row_of_id[row.id] = i
            loaded.rows_of_hash[row.content_hash].append(i)
        return loaded


def _load(project: Project | None, image_filter: ImageFilter) -> _Loaded:
    """The view's rows; a query that fails is a view without photos and a sentence, never an exception (in the
    background it would leave the grid loading for ever)."""
    try:
        return _Loaded.indexed(list_images(project, image_filter) if project else [])
    except Exception as exc:
        log.exception("Could not list the photos")
        return _Loaded(error=str(exc) or type(exc).__name__)


class _LoadSignals(QObject):
    done = Signal(int, object)  # generation, _Loaded


class _LoadRows(QRunnable):
    def __init__(self, generation: int, project: Project, image_filter: ImageFilter, signals: _LoadSignals):
        super().__init__()
        self.generation, self.project, self.image_filter, self.signals = generation, project, image_filter, signals

    def run(self) -> None:
        self.signals.done.emit(self.generation, _load(self.project, self.image_filter))


@dataclass(frozen=True)
class GroupMark:
    """A photo's place in a view of groups (duplicates): which group, and whether it is the one to keep."""

    number: int  # 1-based, in the order the groups are shown
    size: int  # photos in the group
    keeper: bool  # the suggested photo to keep


@dataclass(frozen=True)
class PredictedClass:
    name: str
    confidence: float
    colour: str
    disagrees: bool  # the photo has a human label and it is another class


class ImageListModel(ListModel[ImageRow]):
    loading_changed = Signal(bool)
    load_failed = Signal(str)  # the view's photos could not be listed: why, in one sentence

    def __init__(self, thumbnails: ThumbnailLoader | None = None, parent=None) -> None:
        super().__init__(parent)
        self._project: Project | None = None
        self._row_of_id: dict[int, int] = {}
        self._rows_of_hash: dict[str, list[int]] = defaultdict(list)
        self._generation = 0
        self.load_error = ""  # why the current view is empty because it could not be listed, else ""
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._load_signals = _LoadSignals(self)
        self._load_signals.done.connect(self._apply)
        self._classes: dict[int, ClassInfo] = {}
        self._class_by_name: dict[str, ClassInfo] = {}
        self.prediction_classes: list[str] = []  # the active model's class names, in its output order
        self.image_filter = ImageFilter()
        # One line per photo saying why this view shows it ("Blurry: …", "92% alike …"); the view's, so a new
        # filter clears it.
        self.notes: dict[int, str] = {}
        self.badges: dict[int, str] = {}  # the view's too: shown on the tile ("held out: tools 62%")
        self.groups: dict[int, GroupMark] = {}  # the view's too: duplicate groups, marked on their tiles
        self._thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.loaded.connect(self._on_thumbnail_loaded)

    # -- loading ---------------------------------------------------------------------------------------
    def set_project(self, project: Project | None, thumbnails: ThumbnailLoader | None) -> None:
        if self._thumbnails is not None:
            self._thumbnails.loaded.disconnect(self._on_thumbnail_loaded)
        self._project, self._thumbnails = project, thumbnails
        if thumbnails is not None:
            thumbnails.loaded.connect(self._on_thumbnail_loaded)
        self.reload()

    def set_filter(self, image_filter: ImageFilter) -> None:
        self.image_filter = image_filter
        self.notes, self.badges, self.groups = {}, {}, {}
        self.reload()

    def set_notes(self, notes: dict[int, str]) -> None:
        """Why each photo of the current view is in it, shown first in its tooltip."""
        self.notes = dict(notes)
        self.rows_changed([Qt.ItemDataRole.ToolTipRole])

    def set_badges(self, badges: dict[int, str]) -> None:
        """Why each photo of the current view is in it, in a few words painted on its tile."""
        self.badges = dict(badges)
        self.rows_changed([Role.BADGE])

    def set_groups(self, groups: dict[int, GroupMark]) -> None:
        """The current view's photos in groups (duplicates): each tile shows its group and the keeper."""
        self.groups = dict(groups)
        self.rows_changed([Role.GROUP])

    def set_prediction_classes(self, class_names: list[str]) -> None:
        self.prediction_classes = list(class_names)

    def set_classes(self, classes: list[ClassInfo]) -> None:
        self._classes = {c.id: c for c in classes}
        self._class_by_name = {c.name: c for c in classes}
        self.rows_changed([Role.LABEL, Role.PREDICTION])

    def reload(self) -> None:
        """Re-run the query; large projects load in the background and the newest request wins."""
        self._generation += 1
        if self._project is None or count_images(self._project) < BACKGROUND_QUERY_THRESHOLD:
            self._apply(self._generation, _load(self._project, self.image_filter))
            return
        self.loading_changed.emit(True)
        self._pool.start(_LoadRows(self._generation, self._project, self.image_filter, self._load_signals))

    def set_rows(self, rows: Iterable[ImageRow]) -> None:
        """These rows instead of the query's (a query still loading is dropped), with their lookups: the base
        class's would leave ``row_of`` and the thumbnails' rows pointing at the old ones."""
        self._generation += 1
        self._apply(self._generation, _Loaded.indexed(rows))

    def _apply(self, generation: int, loaded: _Loaded) -> None:
        if generation != self._generation:
            return  # a newer filter was chosen while this one loaded
        self.beginResetModel()
        self._rows, self._row_of_id, self._rows_of_hash = loaded.rows, loaded.row_of_id, loaded.rows_of_hash
        self.load_error = loaded.error
        self.endResetModel()
        self.loading_changed.emit(False)
        if loaded.error:
            self.load_failed.emit(loaded.error)

    def wait_loaded(self, timeout_ms: int = 10_000) -> bool:
        return self._pool.waitForDone(timeout_ms)

    # -- Qt model interface ----------------------------------------------------------------------------
    def cell(self, row: ImageRow, role: int):
        match role:
            case Qt.ItemDataRole.DisplayRole:
                return row.name
            case Qt.ItemDataRole.ToolTipRole:
                label = self._classes.get(row.class_id) if row.class_id else None
                size = f"{row.width}×{row.height}" if row.width else ""
                predicted = self._predicted(row)
                guess = f"Predicted: {predicted.name} ({predicted.confidence:.0%})" if predicted else ""
                return "\n".join(filter(None, [self.notes.get(row.id), str(row.path), size,
                                               f"Label: {label.name}" if label else "", guess,
                                               row.error or "", "Missing on disk" if row.missing else ""]))
            case Role.ROW:
                return row
            case Role.IMAGE_ID:
                return row.id
            case Role.THUMBNAIL:
                return self._thumbnails.get(row.content_hash) if self._thumbnails and not row.error else None
            case Role.LABEL:
                return self._classes.get(row.class_id) if row.class_id is not None else None
            case Role.PREDICTION:
                return self._predicted(row)
            case Role.BADGE:
                return self.badges.get(row.id)
            case Role.GROUP:
                return self.groups.get(row.id)
        return None

    def _predicted(self, row: ImageRow) -> PredictedClass | None:
        if row.predicted_index is None or row.predicted_index >= len(self.prediction_classes):
            return None
        name = self.prediction_classes[row.predicted_index]
        image_class = self._class_by_name.get(name)
        label = self._classes.get(row.class_id) if row.class_id is not None else None
        return PredictedClass(name, row.confidence or 0.0, image_class.colour if image_class else "#9CA3AF",
                              label is not None and label.name != name)

    # -- helpers for views -----------------------------------------------------------------------------
    def row_at(self, row: int) -> ImageRow:
        return self._rows[row]

    def row_of(self, image_id: int) -> int | None:
        return self._row_of_id.get(image_id)

    def update_labels(self, labels: dict[int, int | None]) -> None:
        """Apply label changes in place (no reload), so selection and scroll position stay put."""
        changed = []
        for image_id, class_id in labels.items():
            row = self._row_of_id.get(image_id)
            if row is not None:
                self._rows[row].class_id = class_id
                changed.append(row)
        for row in changed:
            self.dataChanged.emit(self.index(row), self.index(row), [Role.LABEL, Qt.ItemDataRole.ToolTipRole])

    def next_unlabelled_row(self, after: int) -> int | None:
        """The first unlabelled row after ``after``, wrapping around; None when all are labelled."""
        count = len(self._rows)
        for offset in range(1, count + 1):
            row = (after + offset) % count
            if self._rows[row].class_id is None and not self._rows[row].error:
                return row
        return None

    def _on_thumbnail_loaded(self, content_hash: str) -> None:
        for row in self._rows_of_hash.get(content_hash, ()):
            index = self.index(row)
            self.dataChanged.emit(index, index, [Role.THUMBNAIL])
