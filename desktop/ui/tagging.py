"""Classes ▸ Write Classes to Sidecars… and its undo: each photo's class (its label, or a prediction meeting the
sort's precision rule) written as a keyword into its XMP sidecar by ``desktop.core.tagging``, planned and run in
a worker, after the user has seen what will be written."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.core.project import Project
from desktop.core.tagging import DEFAULT_HIERARCHY, TagPlan, TagResult, plan_tags, run_tags, start_tags, undo_tags
from desktop.ui.context import ProjectContext
from desktop.ui.workers import WorkerSlot
from desktop.wording import plural

TITLE = "Write Classes to Sidecars"


class TaggingController(QObject):
    message = Signal(str)
    finished = Signal(object)  # TagResult, or TagPlan when the user said no

    def __init__(self, context: ProjectContext, parent: QWidget) -> None:
        super().__init__(parent)
        self.context = context
        self.parent_widget = parent
        self.task = WorkerSlot(self)
        self._approved: TagPlan | None = None  # run once the planning worker has finished

    @property
    def busy(self) -> bool:
        return self.task.busy

    def _project_if_free(self, busy: str) -> Project | None:
        """The open project when no keyword job runs; else None, having said ``busy`` (or nothing: no project)."""
        project = self.context.project
        if project is not None and self.task.busy:
            self.message.emit(busy)
            return None
        return project

    def write(self) -> None:
        project = self._project_if_free("Keywords are being written already.")
        if project is None:
            return
        self.message.emit("Finding each photo's class and sidecar…")
        self.task.start(lambda _emit, _cancel: plan_tags(project), on_done=self._confirm, on_failed=self._failed,
                        on_finished=self._run_approved)

    def _confirm(self, plan: TagPlan) -> None:
        project = self.context.project
        if project is None:
            return
        if not plan.tags:
            QMessageBox.information(self.parent_widget, TITLE, "No photo has a class to write yet: label photos, or "
                                    "train a model and predict them.")
            self.finished.emit(plan)
            return
        per_class = ", ".join(f"{name} {count:,}" for name, count in sorted(plan.per_class.items()))
        unsure = (f"\n\n{plural(plan.unsure, 'photo')} without a label, or a prediction sure enough by the sort's "
                  "95 % rule, get no keyword." if plan.unsure else "")
        warnings = "".join(f"\n\n{warning}" for warning in plan.warnings)
        answer = QMessageBox.question(
            self.parent_widget, TITLE,
            f"Write the class of {plural(len(plan.tags), 'photo')} as a keyword “{DEFAULT_HIERARCHY}|class” into its "
            f"XMP sidecar ({per_class})?{unsure}{warnings}\n\nThe photos themselves are not changed; other apps' data "
            "in the sidecars stays, and Classes ▸ Undo Written Keywords puts every sidecar back as it was.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            self.finished.emit(plan)
            return
        self._approved = plan
        if not self.task.busy:  # the question's own event loop saw the planning worker finish
            self._run_approved()

    def _run_approved(self) -> None:
        plan, self._approved = self._approved, None
        project = self.context.project
        if plan is None or project is None:
            return
        self.task.start(lambda _emit, cancel: run_tags(project, start_tags(project, plan), cancel=cancel.is_set),
                        on_done=self._done, on_failed=self._failed)

    def undo(self) -> None:
        project = self._project_if_free("Keywords are being written; undo them once that has finished.")
        if project is None:
            return
        self.task.start(lambda _emit, _cancel: undo_tags(project), on_done=self._done, on_failed=self._failed)

    def _done(self, result: TagResult) -> None:
        text = result.message
        if result.failed:
            text += "\n\n" + "\n".join(f"{path.name}: {reason}" for path, reason in result.failed[:5])
        QMessageBox.information(self.parent_widget, TITLE, text)
        self.message.emit(result.message)
        self.finished.emit(result)

    def _failed(self, error: str) -> None:
        QMessageBox.warning(self.parent_widget, TITLE, error)
        self.message.emit(error)
        self.finished.emit(None)

    def shutdown(self) -> None:
        self.task.shutdown()
