"""Sort ▸ Sort History: every sort, newest first; undo any of them, resume the ones that did not finish."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QVBoxLayout

from desktop.core.sorting import SortStatus, SortSummary, list_sorts
from desktop.ui.sorting.actions import SortActions
from desktop.ui.sorting.models import RESUMABLE, SortHistoryModel
from desktop.ui.widgets.note import hint
from desktop.ui.widgets.record_table import record_actions, record_table

HOW_TO = "Undo puts a sort's moved photos back, or deletes its copies. Resume finishes a sort that was interrupted."
NO_SORTS = ("No sorts yet in this project. Sort ▸ Sort Photos… sorts photos into class folders; each sort is listed "
            "here, to undo or to resume.")


class SortHistoryDialog(QDialog):
    """Every sort, newest first: undo any of them, resume the ones that did not finish."""

    def __init__(self, controller: SortActions, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sort history")
        self.controller = controller
        self.table_model = SortHistoryModel(self)
        self.table = record_table(self.table_model)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.hint = hint(HOW_TO)
        actions, (self.undo_button, self.resume_button) = record_actions(
            self, ("Undo…", self.undo_selected), ("Resume", self.resume_selected))
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.hint)
        layout.addLayout(actions)
        self.resize(820, 380)
        controller.history_changed.connect(self.reload)
        self.reload()

    def reload(self) -> None:
        project = self.controller.context.project
        self.table_model.set_rows(list_sorts(project) if project is not None else [])
        if self.table_model.rowCount():
            self.table.selectRow(0)
        self.hint.setText(HOW_TO if self.table_model.rowCount() else NO_SORTS)
        self._update_buttons()

    def selected(self) -> SortSummary | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.row(rows[0]) if rows else None

    def _update_buttons(self, *_args) -> None:
        sort = self.selected()
        busy = self.controller.busy
        self.undo_button.setEnabled(sort is not None and sort.status != SortStatus.UNDONE and not busy)
        self.resume_button.setEnabled(sort is not None and sort.status in RESUMABLE and not busy)

    def undo_selected(self) -> None:
        sort = self.selected()
        if sort is not None:
            self.controller.undo(sort.id, parent=self)

    def resume_selected(self) -> None:
        sort = self.selected()
        if sort is not None:
            self.controller.resume(sort.id, parent=self)

