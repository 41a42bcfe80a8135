"""The Sort menu's controller: its actions, the dialogs it opens, and the undo and resume runs with their workers.

Sorting itself runs in the dialog (``desktop.ui.sorting.dialog``); undo and resume, from the menu, the history or
the interrupted-sort banner, run here one at a time in a ``WorkerSlot`` behind a progress dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox, QProgressDialog, QWidget

from desktop import APP_NAME
from desktop.core.sorting import (
    MOVE,
    SET_ASIDE_RULE,
    SortProgress,
    SortResult,
    SortStatus,
    UndoResult,
    interrupted_sorts,
    list_sorts,
    run_sort,
    sort_result,
    undo_sort,
)
from desktop.ui.context import ProjectContext
from desktop.ui.shortcuts import SHORTCUTS
from desktop.ui.sorting.banner import InterruptedBanner
from desktop.ui.sorting.dialog import SortDialog
from desktop.ui.sorting.history import SortHistoryDialog
from desktop.ui.sorting.text import plural
from desktop.ui.workers import WorkerSlot


class SortController(QObject):
    """The Sort menu: the dialog, undo (with a confirmation), history, and resume; owns their workers."""

    message = Signal(str)
    history_changed = Signal()

    def __init__(self, context: ProjectContext, window: QWidget) -> None:
        super().__init__(window)
        self.context = context
        self.window = window
        self.task = WorkerSlot(self)  # an undo or a resume
        self.dialog: SortDialog | None = None
        self.banner = InterruptedBanner(self, window)
        self.last_report: QMessageBox | None = None
        self.sort_action = self._action("Sort Photos…", self.show_dialog, SHORTCUTS["sort"].keys[0],
                                        "Copy or move photos into one folder per class")
        self.undo_action = self._action("Undo Last Sort…", lambda: self.undo(None), None,
                                        "Put the photos of the newest sort back")
        self.history_action = self._action("Sort History…", self.show_history, None,
                                           "Every sort: undo one, or resume one that did not finish")
        context.project_changed.connect(self.check_interrupted)
        status_bar = getattr(window, "statusBar", None)
        if callable(status_bar):
            status_bar().addPermanentWidget(self.banner)

    def _action(self, text: str, slot, shortcut: str | None, tip: str) -> QAction:
        action = QAction(text, self.window)
        action.triggered.connect(slot)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip)
        action.setStatusTip(tip)
        self.window.addAction(action)
        return action

    def build_menu(self, parent: QWidget) -> QMenu:
        menu = QMenu("&Sort", parent)
        menu.addAction(self.sort_action)
        menu.addSeparator()
        menu.addAction(self.undo_action)
        menu.addAction(self.history_action)
        return menu

    @property
    def busy(self) -> bool:
        return self.task.busy or (self.dialog is not None and self.dialog.busy)

    # -- entry points ----------------------------------------------------------------------------------------

    def show_dialog(self) -> SortDialog | None:
        if self.context.project is None:
            return None
        if self.task.busy:
            QMessageBox.information(self.window, APP_NAME, "Wait for the undo or resume to finish.")
            return None
        dialog = SortDialog(self.context, self.window)
        dialog.sort_finished.connect(self._on_dialog_sorted)
        self.dialog = dialog
        dialog.finished.connect(self._on_dialog_closed)
        dialog.open()
        return dialog

    def _on_dialog_closed(self, _code: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None

    def _on_dialog_sorted(self, result: SortResult) -> None:
        self.message.emit(result.message)
        self.history_changed.emit()
        self.check_interrupted()

    def show_history(self) -> SortHistoryDialog | None:
        if self.context.project is None:
            return None
        dialog = SortHistoryDialog(self, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def check_interrupted(self) -> None:
        project = self.context.project
        self.banner.show_sorts(interrupted_sorts(project) if project is not None else [])

    # -- undo and resume ---------------------------------------------------------------------------------------

    def describe_undo(self, sort_id: int | None) -> tuple[int, str] | None:
        """(sort id, what undoing it puts back), or None when there is nothing to undo."""
        project = self.context.project
        if project is None:
            return None
        sorts = [s for s in list_sorts(project) if s.status != SortStatus.UNDONE]
        sort = next((s for s in sorts if s.id == sort_id), None) if sort_id is not None else \
            (sorts[0] if sorts else None)
        if sort is None:
            return None
        result = sort_result(project, sort.id)
        per_class = ", ".join(f"{name} {count:,}" for name, count in result.per_class.items())
        how = sort.rule if sort.rule == SET_ASIDE_RULE else f"sorted by {sort.rule}"
        when = sort.created_at.strftime("%Y-%m-%d %H:%M") + (f", {how}" if sort.rule else "")
        if sort.mode == MOVE:
            text = (f"Undo sort #{sort.id} ({when})?\n\n{plural(result.done, 'photo')} moved into "
                    f"{sort.destination} go back to where they came from"
                    + (f" ({per_class})." if per_class else "."))
        else:
            copies = "copy" if result.done == 1 else "copies"
            text = f"Undo sort #{sort.id} ({when})?\n\nThe {result.done:,} {copies}"
            text += (f" made in {sort.destination} are deleted" + (f" ({per_class})" if per_class else "")
                     + ". A copy is deleted only if it is unchanged and its original is still there; the originals "
                     "are not touched.")
        text += "\n\nFolders the sort created are removed once empty."
        return sort.id, text

    def undo(self, sort_id: int | None, parent: QWidget | None = None, confirm: bool = True) -> bool:
        if self.busy:
            return False
        described = self.describe_undo(sort_id)
        parent = parent or self.window
        if described is None:
            QMessageBox.information(parent, "Undo sort", "There is no sort to undo.")
            return False
        sort_id, text = described
        if confirm:
            answer = QMessageBox.question(parent, "Undo sort", text,
                                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                          QMessageBox.StandardButton.Yes)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        project = self.context.project
        self._run(lambda emit, cancel: undo_sort(project, sort_id, emit, cancel), f"Undoing sort #{sort_id}…",
                  parent)
        return True

    def resume(self, sort_id: int, parent: QWidget | None = None) -> bool:
        if self.busy or self.context.project is None:
            return False
        project = self.context.project
        self._run(lambda emit, cancel: run_sort(project, sort_id, emit, cancel), f"Resuming sort #{sort_id}…",
                  parent or self.window)
        return True

    def _run(self, job, title: str, parent: QWidget) -> None:
        progress = QProgressDialog(title, "Cancel", 0, 0, parent)
        progress.setWindowTitle(APP_NAME)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(300)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        progress.canceled.connect(self.task.cancel)

        def on_progress(event: SortProgress) -> None:
            progress.setMaximum(max(1, event.total))
            progress.setValue(event.done)
            if event.current:
                progress.setLabelText(f"{title}\n{Path(event.current).name}")

        def on_done(result) -> None:
            self._report(result, parent)

        def on_failed(error: str) -> None:
            QMessageBox.warning(parent, APP_NAME, error)

        def on_finished() -> None:
            progress.close()
            progress.deleteLater()
            self.context.refresh_all()
            self.check_interrupted()
            self.history_changed.emit()

        self.task.start(job, on_progress=on_progress, on_done=on_done, on_failed=on_failed, on_finished=on_finished)
        self.history_changed.emit()  # the history shows this run as busy

    def _report(self, result: SortResult | UndoResult, parent: QWidget) -> None:
        self.message.emit(result.message)
        details = ""
        if isinstance(result, UndoResult):
            undone = result.status == SortStatus.UNDONE
            title = f"Sort #{result.sort_id} undone" if undone else f"Undo of sort #{result.sort_id}"
            details = "\n".join(f"{path.name}: {reason}" for path, reason in result.kept[:8])
        else:
            title = f"Sort #{result.sort_id}"
            details = "\n".join(f"{f.source.name}: {f.reason}" for f in result.failed[:8])
        box = QMessageBox(QMessageBox.Icon.Information, title, result.message, QMessageBox.StandardButton.Ok, parent)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_report = box

    def shutdown(self) -> None:
        if self.dialog is not None:
            self.dialog.sort_task.shutdown()
        self.task.shutdown()
