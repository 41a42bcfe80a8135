"""Keyboard labelling: class keys label the selection and advance; every change is undoable."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from desktop.core import labels
from desktop.core.labels import LabelChange
from desktop.ui.context import ProjectContext
from desktop.ui.models.images import Role
from desktop.ui.widgets.grid import ThumbnailGrid


class LabelCommand(QUndoCommand):
    def __init__(self, context: ProjectContext, image_ids: list[int], class_id: int | None, text: str) -> None:
        super().__init__(text)
        self._context = context
        self._image_ids = image_ids
        self._class_id = class_id
        self.change: LabelChange | None = None

    def redo(self) -> None:
        project = self._context.project
        if self.change is None:
            self.change = labels.set_label(project, self._image_ids, self._class_id)
        else:
            labels.redo(project, self.change)
        self._context.labels_changed(dict(self.change.after))

    def undo(self) -> None:
        labels.undo(self._context.project, self.change)
        self._context.labels_changed(dict(self.change.before))


class LabellingController(QObject):
    message = Signal(str)

    def __init__(self, context: ProjectContext, grid: ThumbnailGrid, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.grid = grid
        self.undo_stack = QUndoStack(self)
        self.auto_advance = True
        context.project_changed.connect(self.undo_stack.clear)

    def selected_rows(self) -> list[int]:
        selection = self.grid.selectionModel()
        rows = sorted(index.row() for index in selection.selectedIndexes()) if selection else []
        if not rows and self.grid.currentIndex().isValid():
            rows = [self.grid.currentIndex().row()]
        return rows

    def label_by_key(self, key: str) -> bool:
        image_class = self.context.classes.class_for_key(key)
        if image_class is None:
            self.message.emit(f"No class has the key {key}. Add classes with “+ Class”.")
            return False
        return self.label_selection(image_class.id, image_class.name)

    def label_selection(self, class_id: int | None, class_name: str | None = None) -> bool:
        rows = self.selected_rows()
        model = self.context.images
        ids = [model.row_at(row).id for row in rows if not model.row_at(row).error]
        if not ids or self.context.project is None:
            return False
        what = f"{len(ids)} photos" if len(ids) > 1 else model.row_at(rows[0]).name
        text = f"Label {what} as {class_name}" if class_id is not None else f"Clear the label of {what}"
        self.undo_stack.push(LabelCommand(self.context, ids, class_id, text))
        if self.auto_advance and class_id is not None:
            self.advance(rows[-1])
        return True

    def accept_prediction(self) -> bool:
        """Label each selected photo with its own predicted class (one undo step), then advance."""
        model = self.context.images
        rows = self.selected_rows()
        by_class: dict[str, list[int]] = {}
        for row in rows:
            predicted = model.index(row).data(Role.PREDICTION)
            if predicted is not None:
                by_class.setdefault(predicted.name, []).append(model.row_at(row).id)
        if not by_class:
            self.message.emit("No prediction for the selected photos yet.")
            return False
        classes = {c.name: c for c in self.context.classes.classes}
        missing = [name for name in by_class if name not in classes]
        if missing:
            self.message.emit(f"The class {', '.join(missing)} no longer exists; retrain or label by key.")
            return False
        self.undo_stack.beginMacro("Accept predictions")
        for name, ids in by_class.items():
            self.undo_stack.push(LabelCommand(self.context, ids, classes[name].id, f"Label as {name}"))
        self.undo_stack.endMacro()
        if self.auto_advance:
            self.advance(rows[-1])
        return True

    def clear_selection_labels(self) -> bool:
        return self.label_selection(None)

    def advance(self, from_row: int) -> None:
        """Move to the next unlabelled photo, or simply the next one when all are labelled."""
        model = self.context.images
        if model.image_filter.review:  # reviewing labels: every row in turn
            if from_row + 1 >= model.rowCount():
                self.message.emit("That was the last photo to review.")
            self.select_row(min(from_row + 1, model.rowCount() - 1))
            return
        target = model.next_unlabelled_row(from_row)
        if target is None:
            target = min(from_row + 1, model.rowCount() - 1)
            self.message.emit("Every photo here is labelled.")
        self.select_row(target)

    def keep_and_next(self) -> None:
        """Reviewing: the label is right as it is; go on."""
        rows = self.selected_rows()
        if rows:
            self.advance(rows[-1])

    def select_row(self, row: int) -> None:
        index = self.context.images.index(row)
        self.grid.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.grid.scrollTo(index)
