"""The classes' list model: each class with its colour, count and key (the sidebar, labelling by key)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from desktop.core.classes import ClassInfo
from desktop.ui.models.rows import ListModel
from desktop.wording import plural

CLASS_ROLE = Qt.ItemDataRole.UserRole + 1


class ClassListModel(ListModel[ClassInfo]):
    @property
    def classes(self) -> list[ClassInfo]:
        return list(self._rows)

    def set_classes(self, classes: list[ClassInfo]) -> None:
        if [c.id for c in classes] == [c.id for c in self._rows] and classes:
            self._rows = list(classes)  # same rows: update in place so selection survives
            self.rows_changed()
            return
        self.set_rows(classes)

    def class_for_key(self, key: str) -> ClassInfo | None:
        return next((c for c in self._rows if c.shortcut == key), None)

    def cell(self, image_class: ClassInfo, role: int):
        match role:
            case Qt.ItemDataRole.DisplayRole:
                return image_class.name
            case Qt.ItemDataRole.DecorationRole:
                return QColor(image_class.colour)
            case Qt.ItemDataRole.ToolTipRole:
                key = f"Press {image_class.shortcut} to label" if image_class.shortcut else "No shortcut key"
                return f"{image_class.name}: {plural(image_class.count, 'image')}. {key}."
            case _ if role == CLASS_ROLE:
                return image_class
        return None
