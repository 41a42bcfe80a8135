"""Sidebar models: classes with counts and keys, folders, and the fixed filters."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop.core.classes import ClassInfo

CLASS_ROLE = Qt.ItemDataRole.UserRole + 1


class ClassListModel(QAbstractListModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._classes: list[ClassInfo] = []

    @property
    def classes(self) -> list[ClassInfo]:
        return list(self._classes)

    def set_classes(self, classes: list[ClassInfo]) -> None:
        if [c.id for c in classes] == [c.id for c in self._classes] and classes:
            self._classes = list(classes)  # same rows: update in place so selection survives
            self.dataChanged.emit(self.index(0), self.index(len(classes) - 1))
            return
        self.beginResetModel()
        self._classes = list(classes)
        self.endResetModel()

    def class_for_key(self, key: str) -> ClassInfo | None:
        return next((c for c in self._classes if c.shortcut == key), None)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._classes)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        image_class = self._classes[index.row()]
        match role:
            case Qt.ItemDataRole.DisplayRole:
                return image_class.name
            case Qt.ItemDataRole.DecorationRole:
                return QColor(image_class.colour)
            case Qt.ItemDataRole.ToolTipRole:
                key = f"Press {image_class.shortcut} to label" if image_class.shortcut else "No shortcut key"
                return f"{image_class.name}: {image_class.count} images. {key}."
            case _ if role == CLASS_ROLE:
                return image_class
        return None
