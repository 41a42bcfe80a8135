"""Class management from the GUI: add, rename, recolour, shortcut, merge and delete (with confirmation)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QInputDialog, QMenu, QMessageBox, QWidget

from desktop.core import classes as core
from desktop.core.browse import ImageFilter, Show
from desktop.core.classes import ClassError, ClassInfo
from desktop.ui.context import ProjectContext


class ClassActions(QObject):
    message = Signal(str)
    restructured = Signal()  # a class was merged or deleted: older label undo steps no longer apply
    filter_requested = Signal(object)  # ImageFilter, e.g. the photos the model predicts as this class

    def __init__(self, context: ProjectContext, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self.context = context
        self.parent_widget = parent_widget

    def _run(self, operation, *args):
        try:
            result = operation(self.context.project, *args)
        except ClassError as exc:
            QMessageBox.warning(self.parent_widget, "Pigeonhole", str(exc))
            return None
        self.context.refresh_counts()
        return result

    def add(self, name: str | None = None) -> ClassInfo | None:
        if self.context.project is None:
            return None
        if name is None:
            name, ok = QInputDialog.getText(self.parent_widget, "Add a class", "Class name (a folder name later):")
            if not ok or not name.strip():
                return None
        added = self._run(core.add_class, name)
        if added is not None:
            key = f" Press {added.shortcut} to label photos with it." if added.shortcut else ""
            self.message.emit(f"Added “{added.name}”.{key}")
        return added

    def show_menu(self, image_class: ClassInfo, position) -> None:
        menu = QMenu(self.parent_widget)
        menu.addAction("Rename…", lambda: self.rename(image_class))
        menu.addAction("Colour…", lambda: self.recolour(image_class))
        keys = menu.addMenu("Shortcut key")
        for key in core.SHORTCUT_KEYS:
            action = keys.addAction(key, lambda key=key: self._run(core.set_shortcut, image_class.id, key))
            action.setCheckable(True)
            action.setChecked(key == image_class.shortcut)
        keys.addAction("None", lambda: self._run(core.set_shortcut, image_class.id, None))
        merge = menu.addMenu("Merge into")
        for other in self.context.classes.classes:
            if other.id != image_class.id:
                merge.addAction(other.name, lambda other=other: self.merge(image_class, other))
        merge.setEnabled(len(self.context.classes.classes) > 1)
        menu.addSeparator()
        menu.addAction("Move up", lambda: self._run(core.move_class, image_class.id, image_class.position - 1))
        menu.addAction("Move down", lambda: self._run(core.move_class, image_class.id, image_class.position + 1))
        menu.addSeparator()
        model = self.context.active_model
        predicted = menu.addAction(f"Show Photos Predicted as {image_class.name}", lambda: self.filter_requested.emit(
            ImageFilter(Show.PREDICTED, class_name=image_class.name, least_confident_first=True,
                        title=f"Predicted as {image_class.name} — least sure first")))
        predicted.setEnabled(model is not None and image_class.name in model.class_names)
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.delete(image_class))
        menu.exec(position)

    def rename(self, image_class: ClassInfo) -> None:
        name, ok = QInputDialog.getText(self.parent_widget, "Rename class", "New name:", text=image_class.name)
        if ok and name.strip() and name.strip() != image_class.name:
            self._run(core.rename_class, image_class.id, name)

    def recolour(self, image_class: ClassInfo) -> None:
        colour = QColorDialog.getColor(QColor(image_class.colour), self.parent_widget, f"Colour of {image_class.name}")
        if colour.isValid():
            self._run(core.set_colour, image_class.id, colour.name())

    def merge(self, source: ClassInfo, target: ClassInfo) -> None:
        answer = QMessageBox.question(
            self.parent_widget, "Merge classes",
            f"Relabel all {source.count:,} photos of “{source.name}” as “{target.name}” and remove “{source.name}”?")
        if answer == QMessageBox.StandardButton.Yes:
            moved = self._run(core.merge_classes, source.id, target.id)
            if moved is not None:
                self.context.images.reload()
                self.restructured.emit()
                self.message.emit(f"Merged “{source.name}” into “{target.name}” ({moved:,} photos).")

    def delete(self, image_class: ClassInfo) -> None:
        detail = (f"Its {image_class.count:,} photos become unlabelled; the files themselves are not touched."
                  if image_class.count else "No photos have this label.")
        answer = QMessageBox.question(self.parent_widget, "Delete class", f"Delete “{image_class.name}”? {detail}")
        if answer == QMessageBox.StandardButton.Yes and self._run(core.delete_class, image_class.id) is not None:
            self.context.images.reload()
            self.restructured.emit()
            self.message.emit(f"Deleted “{image_class.name}”.")
