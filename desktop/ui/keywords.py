"""Classes ▸ Classes from Keywords…: the keywords the photos already carry (read on import from their XMP, IPTC
and sidecars), with how many photos carry each; the user ticks the ones that become classes, or names a
branch of a hierarchy (``Animals|``), and the unlabelled photos are labelled in one undoable step."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core import labels
from desktop.core.keywords import KeywordLabels, keyword_counts, label_from_keywords
from desktop.errors import PigeonholeError
from desktop.ui.context import ProjectContext
from desktop.ui.window_geometry import fit_dialog


class KeywordLabelCommand(QUndoCommand):
    """Labels made from keywords, as one step of the labelling undo stack (already applied when pushed)."""

    def __init__(self, context: ProjectContext, result: KeywordLabels) -> None:
        super().__init__("Labels from Keywords")
        self._context = context
        self._change = result.change
        self._applied = True

    def redo(self) -> None:
        if self._applied:  # QUndoStack.push calls redo: the labels are there already
            self._applied = False
        else:
            labels.redo(self._context.project, self._change)
        self._context.labels_changed(dict(self._change.after))

    def undo(self) -> None:
        labels.undo(self._context.project, self._change)
        self._context.labels_changed(dict(self._change.before))


class KeywordsDialog(QDialog):
    def __init__(self, counts: list[tuple[str, int]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Classes from Keywords")
        intro = QLabel("Tick the keywords that should become classes. Unlabelled photos carrying one of them are "
                       "labelled with it (its last part: “Animals|Birds” makes the class “Birds”); photos with a "
                       "label keep theirs.")
        intro.setWordWrap(True)
        self.list = QListWidget(self)
        for keyword, count in counts:
            item = QListWidgetItem(f"{keyword.replace('|', ' › ')}  ({count:,} photo{'s' * (count != 1)})")
            item.setData(Qt.ItemDataRole.UserRole, keyword)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.list.addItem(item)
        branch_note = QLabel("Or make a class of each keyword below a branch, such as “Animals|”:")
        branch_note.setWordWrap(True)
        self.branch = QLineEdit(self)
        self.branch.setPlaceholderText("Animals|")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Label Photos")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(branch_note)
        layout.addWidget(self.branch)
        layout.addWidget(buttons)
        fit_dialog(self, QSize(520, 560))

    def chosen(self) -> list[str]:
        return [self.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.list.count())
                if self.list.item(row).checkState() == Qt.CheckState.Checked]


def classes_from_keywords(context: ProjectContext, undo_stack: QUndoStack, parent: QWidget) -> KeywordLabels | None:
    """Show the dialog and label the photos it chose; the answer, or the reason, in a message box."""
    project = context.project
    if project is None:
        return None
    counts = keyword_counts(project)  # one GROUP BY on an indexed table: milliseconds
    if not counts:
        QMessageBox.information(parent, "Classes from Keywords",
                                "No photo carries a keyword (in the photo's XMP or IPTC, or in an XMP sidecar "
                                "beside it). Keywords are read when a folder is added or re-scanned.")
        return None
    dialog = KeywordsDialog(counts, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    try:
        result = label_from_keywords(project, dialog.chosen(), dialog.branch.text().strip() or None)
    except PigeonholeError as exc:
        QMessageBox.warning(parent, "Classes from Keywords", str(exc))
        return None
    context.refresh_classes()
    if result.change is not None:
        undo_stack.push(KeywordLabelCommand(context, result))
    QMessageBox.information(parent, "Classes from Keywords", result.message)
    return result
