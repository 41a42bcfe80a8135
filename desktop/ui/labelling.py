"""Keyboard labelling: class keys label the selection and advance; every change is undoable.

Labelling many photos at once never overwrites a label silently: the photos without one are labelled, the ones
with another label stay selected (their label on their caption) and the status bar says so; the same key again,
on them, relabels them. One photo is relabelled at once: it is the one in the preview.
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QItemSelectionModel, QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from desktop.core import labels
from desktop.core.browse import ImageRow
from desktop.core.labels import LabelChange
from desktop.ui.context import ProjectContext
from desktop.ui.models.images import Role
from desktop.ui.widgets.grid import ThumbnailGrid
from desktop.wording import plural


def selection_note(selected: int, labelled: int) -> str:
    """What a class key will do to a selection of many photos, ``labelled`` of which have a label."""
    if not labelled:
        return f"{selected:,} photos selected — a class key labels them all."
    if labelled == selected:
        return (f"{selected:,} photos selected, all already labelled — a class key relabels them only when "
                "pressed twice.")
    return (f"{selected:,} photos selected, {labelled:,} of them already labelled — a class key labels the other "
            f"{selected - labelled:,} and keeps those labels.")


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
        # What a repeated key would confirm: (the photos kept, what they would become). Set when a bulk
        # labelling kept labels, and good for the very next key on exactly those photos.
        self._relabel_offer: tuple[frozenset[int], object] | None = None
        context.project_changed.connect(self.undo_stack.clear)
        grid.selectionModel().selectionChanged.connect(self._on_selection_changed)

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
        photos = [model.row_at(row) for row in rows if not model.row_at(row).error]
        if not photos or self.context.project is None:
            return False
        offer = self._take_offer()
        if class_id is not None and len(photos) > 1:
            kept = [photo for photo in photos if photo.class_id not in (None, class_id)]
            if kept and offer != (frozenset(photo.id for photo in photos), class_id):
                new = [photo.id for photo in photos if photo.class_id is None]
                if new:
                    self.undo_stack.push(LabelCommand(self.context, new, class_id,
                                                      f"Label {plural(len(new), 'photo')} as {class_name}"))
                self._keep_labels(kept, class_id, class_name, len(new))
                return True
        ids = [photo.id for photo in photos]
        relabel = len(ids) > 1 and any(photo.class_id not in (None, class_id) for photo in photos)
        what = f"{len(ids)} photos" if len(ids) > 1 else photos[0].name
        verb = "Relabel" if relabel else "Label"
        text = f"{verb} {what} as {class_name}" if class_id is not None else f"Clear the label of {what}"
        self.undo_stack.push(LabelCommand(self.context, ids, class_id, text))
        if self.auto_advance and class_id is not None:
            self.advance(rows[-1])
        return True

    def _on_selection_changed(self, *_args) -> None:
        """A new selection: the relabel offer is gone; of many photos, say how many already have a label."""
        self._relabel_offer = None
        rows = [index.row() for index in self.grid.selectionModel().selectedIndexes()]
        if len(rows) > 1:
            self.message.emit(selection_note(len(rows), sum(self.context.images.row_at(row).class_id is not None
                                                             for row in rows)))

    def _take_offer(self) -> tuple[frozenset[int], object] | None:
        """The relabel offer is good for one key only."""
        offer, self._relabel_offer = self._relabel_offer, None
        return offer

    def _keep_labels(self, kept: list[ImageRow], becomes: object, becomes_name: str | None, labelled: int) -> None:
        """Leave the photos that have another label selected, marked by their caption, and say how to relabel
        them (the same key again, or A again: ``becomes`` is the class id, or "prediction")."""
        names = {c.id: c.name for c in self.context.classes.classes}
        had = Counter(names.get(photo.class_id, "another class") for photo in kept)
        had_text = ", ".join(f"{count} {name}" for name, count in had.most_common())
        image_class = next((c for c in self.context.classes.classes if c.id == becomes), None)
        them = "it" if len(kept) == 1 else "them"
        if image_class is not None:
            again = f"press {image_class.shortcut} again" if image_class.shortcut else "choose it again"
            how = f"{again} to relabel {them} as {becomes_name}"
        else:
            how = f"press A again to give {them} the predicted class"
        done = f"Labelled {plural(labelled, 'photo')}. " if labelled else ""
        self.grid.select_ids([photo.id for photo in kept])
        # After the selection moved (which forgets any offer and says how many are selected): this says more.
        self._relabel_offer = (frozenset(photo.id for photo in kept), becomes)
        self.message.emit(f"{done}{plural(len(kept), 'selected photo')} already had a label ({had_text}) and "
                          f"kept it — still selected: {how}.")

    def accept_prediction(self) -> bool:
        """Label each selected photo with its own predicted class (one undo step), then advance; of many, the ones
        labelled otherwise keep their label until A comes again."""
        model = self.context.images
        rows = self.selected_rows()
        offer = self._take_offer()
        classes = {c.name: c for c in self.context.classes.classes}
        predicted_of: dict[int, str] = {}  # row -> predicted class name
        for row in rows:
            predicted = model.index(row).data(Role.PREDICTION)
            if predicted is not None and not model.row_at(row).error:
                predicted_of[row] = predicted.name
        if not predicted_of:
            self.message.emit("No prediction for the selected photos yet.")
            return False
        missing = sorted({name for name in predicted_of.values() if name not in classes})
        if missing:
            self.message.emit(f"The class {', '.join(missing)} no longer exists; retrain or label by key.")
            return False
        chosen = frozenset(model.row_at(row).id for row in predicted_of)
        kept = [model.row_at(row) for row, name in predicted_of.items()
                if model.row_at(row).class_id not in (None, classes[name].id)]
        keep = len(predicted_of) > 1 and bool(kept) and offer != (chosen, "prediction")
        by_class: dict[str, list[int]] = {}
        for row, name in predicted_of.items():
            if not (keep and model.row_at(row).class_id is not None):
                by_class.setdefault(name, []).append(model.row_at(row).id)
        if by_class:
            self.undo_stack.beginMacro("Accept predictions")
            for name, ids in by_class.items():
                self.undo_stack.push(LabelCommand(self.context, ids, classes[name].id, f"Label as {name}"))
            self.undo_stack.endMacro()
        if keep:
            self._keep_labels(kept, "prediction", None, sum(len(ids) for ids in by_class.values()))
        elif self.auto_advance:
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
