"""Sort ▸ Sort photos: choose photos, destination and options; a live preview; run, cancel, resume.

The dialog composes three parts: the options form (``desktop.ui.sorting.options``), the preview of the plan
(``desktop.ui.sorting.preview``: where they go, and every planned photo), and the run at the bottom, which this
module owns. Everything that touches the disk or reads many rows runs in a worker, one ``WorkerSlot`` each: the
preview (``plan_sort``) and the sort itself (``sort_plan``: journal and run, or ``run_sort`` again after it stopped
early). The views read from the table models in ``desktop.ui.sorting.models``; no widget holds data of its own.

It fits the screen from 1024 x 700 up: the options and their notes scroll in their column, notes wrap (taking
height, not width), and the buttons stay at the bottom whatever the notes say.
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.core.browse import list_images
from desktop.core.sorting import (
    MOVE,
    UNSURE,
    SortPlan,
    SortProgress,
    SortRequest,
    SortResult,
    plan_sort,
    run_sort,
    sort_plan,
)
from desktop.ui.context import ProjectContext
from desktop.ui.sorting.models import UNSURE_COLOUR
from desktop.ui.sorting.options import Selection, SortOptions
from desktop.ui.sorting.preview import PlanSummary, PlanTable
from desktop.ui.sorting.text import ing, plural, verb
from desktop.ui.widgets.note import note, set_note, vertical_scroll, wrapping
from desktop.ui.window_geometry import fit_dialog
from desktop.ui.workers import WorkerSlot

PREVIEW_DELAY_MS = 250  # options settle (typing a path, dragging the slider) before the preview is recomputed
OPTIONS_WIDTH = 400  # the options column; the preview takes the rest
PREFERRED_SIZE = QSize(1060, 680)  # less where the screen is smaller (fit_dialog)


class SortDialog(QDialog):
    """Options on the left (scrolling when they outgrow the screen), the preview on the right, the run at the
    bottom."""

    preview_ready = Signal()  # the preview shows the current options
    sort_finished = Signal(object)  # SortResult
    sort_failed = Signal(str)

    def __init__(self, context: ProjectContext, parent=None, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sort photos")
        self.setObjectName("sortDialog")
        self.context = context
        self.settings = settings or QSettings()
        self.plan: SortPlan | None = None
        self.result: SortResult | None = None
        self.preview_task = WorkerSlot(self)  # one plan at a time: the newest options are planned when it ends
        self.sort_task = WorkerSlot(self)
        self._generation = 0  # bumped whenever an option changes; a preview of an older one is discarded
        self._shown_generation = -1
        self._resume_id: int | None = None  # a sort of this dialog that stopped early: "Resume" finishes it
        self._preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.refresh_preview)

        self.options = SortOptions(context, self.settings)
        self.summary = PlanSummary()
        self.table = PlanTable()
        # The controls tests and the run reach by name, wherever their part builds them.
        self.photos, self.destination, self.rule = self.options.photos, self.options.destination, self.options.rule
        self.move_radio, self.follow_labels = self.options.move_radio, self.options.follow_labels
        self.threshold_spin, self.threshold_slider = self.options.threshold_spin, self.options.threshold_slider
        self.counts, self.counts_summary, self.notice = (self.summary.counts, self.summary.counts_summary,
                                                         self.summary.notice)
        self.preview, self.preview_state = self.table.model, self.table.state
        self._lay_out(self._build_run_controls())
        self.options.changed.connect(self.schedule_preview)
        self.schedule_preview()

    # -- building ----------------------------------------------------------------------------------------------

    def _build_run_controls(self) -> QHBoxLayout:
        """The bottom: the message and progress bar, the file being sorted, and the buttons."""
        self.message = note("info")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.current_file = QLabel("")
        self.current_file.setObjectName("hint")
        self.current_file.setStyleSheet("padding: 0;")
        self.current_file.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.current_file.hide()
        self.sort_button = QPushButton("Sort")
        self.sort_button.setObjectName("primary")
        self.sort_button.setAutoDefault(False)  # Enter in the destination field must not start a sort
        self.sort_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self.open_destination)
        self.open_button.hide()
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        for button in (self.open_button, self.cancel_button, self.close_button):
            button.setMinimumWidth(96)
        self.sort_button.setMinimumWidth(180)
        buttons = QHBoxLayout()
        buttons.addWidget(self.current_file, 1)
        buttons.addStretch(1)  # the buttons keep their width while no file is shown
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.sort_button)
        return buttons

    def _options_column(self) -> QScrollArea:
        """The options and where they go, in a column that scrolls when its notes outgrow the screen."""
        column = QWidget()
        column.setObjectName("sortOptions")
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 12, 0)
        layout.setSpacing(10)
        layout.addWidget(self.options)
        layout.addSpacing(10)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        scroll = vertical_scroll(column)
        scroll.setStyleSheet("QScrollArea, #sortOptions { background: transparent; }")
        scroll.setFixedWidth(OPTIONS_WIDTH + scroll.verticalScrollBar().sizeHint().width())
        scroll.setMinimumHeight(160)
        return scroll

    def _lay_out(self, buttons: QHBoxLayout) -> None:
        """The title, the two columns side by side, then the run controls, always in view."""
        title = QLabel("<span style='font-size:15px; font-weight:600'>Sort photos into class folders</span>")
        subtitle = wrapping(QLabel("Each photo goes to a folder named after its class. Nothing is ever overwritten, "
                                   "and Sort ▸ Undo Last Sort puts everything back."))
        subtitle.setObjectName("hint")
        subtitle.setStyleSheet("padding: 0;")

        body = QHBoxLayout()
        body.setSpacing(8)
        body.addWidget(self._options_column())
        divider = QFrame()
        divider.setFrameShape(QFrame.Shape.VLine)
        divider.setStyleSheet("color: #DADDE3;")
        body.addWidget(divider)
        body.addWidget(self.table, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 16)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addSpacing(4)
        layout.addLayout(body, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.setStyleSheet("QPushButton#primary:disabled { background: #A8BFF0; color: #F8FAFF; }")
        fit_dialog(self, PREFERRED_SIZE)

    # -- options -----------------------------------------------------------------------------------------------

    def request(self) -> tuple[SortRequest, Selection]:
        return self.options.request()

    def _colours(self) -> dict[str, str]:
        colours = {c.name: c.colour for c in self.context.classes.classes}
        colours.setdefault(UNSURE, UNSURE_COLOUR)
        return colours

    # -- preview -----------------------------------------------------------------------------------------------

    @property
    def preview_pending(self) -> bool:
        return self._preview_timer.isActive() or self.preview_task.busy

    def schedule_preview(self) -> None:
        """An option changed: the preview is out of date until the options settle and it is recomputed."""
        self._generation += 1
        self.result = None  # a new sort from here on; the last one stays in Sort ▸ Sort History
        self._resume_id = None
        self.open_button.hide()
        self.close_button.setText("Close")
        self.plan = None
        self.sort_button.setEnabled(False)
        self.preview_state.setText("Updating…")
        self._preview_timer.start()

    def refresh_preview(self) -> None:
        if self.sort_task.busy or self.preview_task.busy:
            return
        project = self.context.project
        if project is None:
            return
        if not self.destination.text().strip():
            self._show_plan(None, "Choose where the class folders go to see where each photo would land.")
            return
        generation = self._generation
        request, selection = self.request()

        def job(_emit, _cancel):
            if selection.kind == "view" and selection.image_filter is not None:
                ids = [row.id for row in list_images(project, selection.image_filter)]
                return generation, plan_sort(project, replace(request, image_ids=ids))
            return generation, plan_sort(project, request)

        self.preview_state.setText("Updating…")
        self.preview_task.start(job, on_done=self._on_planned,
                                on_failed=lambda error: self._on_plan_failed(generation, error),
                                on_finished=self._on_preview_finished)

    def _on_preview_finished(self) -> None:
        if self._shown_generation != self._generation and not self._preview_timer.isActive():
            self.refresh_preview()  # options changed while it was planning: plan the newest ones

    def _on_planned(self, payload: tuple[int, SortPlan]) -> None:
        generation, plan = payload
        if generation == self._generation:
            self._show_plan(plan)

    def _on_plan_failed(self, generation: int, error: str) -> None:
        if generation == self._generation:
            self._show_plan(None, error, "error")

    def _show_plan(self, plan: SortPlan | None, problem: str = "", kind: str = "info") -> None:
        self.plan = plan
        self._shown_generation = self._generation
        colours = self._colours()
        self.table.show_plan(plan, colours)
        self.summary.show_plan(plan, colours, self.context.active_model is not None)
        set_note(self.message, html.escape(problem), kind)
        count = len(plan.photos) if plan else 0
        self.sort_button.setText(f"{verb(plan.mode)} {plural(count, 'photo')}" if plan and count else "Sort")
        self.sort_button.setEnabled(count > 0 and not self.sort_task.busy)
        self.preview_ready.emit()

    # -- running -----------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.sort_task.busy

    def start(self) -> None:
        """Sort what the preview shows; after a sort that stopped early, resume that one instead."""
        plan = self.plan
        project = self.context.project
        if plan is None or project is None or not plan.operations or self.sort_task.busy:
            return
        self.options.remember()
        resume_id = self._resume_id

        def job(emit, cancel):
            if resume_id is not None:
                return run_sort(project, resume_id, emit, cancel)
            return sort_plan(project, plan, emit, cancel)  # journalled and run under one hold of the lock

        self.result = None
        self._set_running(True, len(plan.operations))
        what = f"sort #{resume_id}" if resume_id is not None else plural(len(plan.photos), 'photo')
        set_note(self.message, f"{'Resuming' if resume_id is not None else ing(plan.mode)} {what} into "
                                  f"{html.escape(str(plan.destination))}…", "info")
        self.sort_task.start(job, on_progress=self._on_progress, on_done=self._on_sorted,
                             on_failed=self._on_sort_failed,
                             on_cancelled=lambda: self._on_sort_failed("Cancelled before any photo was sorted."),
                             on_finished=self._on_sort_worker_finished)

    def _set_running(self, running: bool, total: int = 0) -> None:
        self.options.set_editable(not running)
        for widget in (self.sort_button, self.close_button):
            widget.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        self.current_file.setVisible(running)
        self.current_file.setText("")
        if running:
            self.open_button.hide()
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(0)
            self.progress.setFormat("%v of %m")

    def _on_progress(self, progress: SortProgress) -> None:
        self.progress.setRange(0, max(1, progress.total))
        self.progress.setValue(progress.done + progress.failed)
        failed = f" · {progress.failed} failed" if progress.failed else ""
        self.current_file.setText(f"{Path(progress.current).name}{failed}" if progress.current else "")

    def cancel(self) -> None:
        if self.sort_task.busy:
            self.sort_task.cancel()
            self.cancel_button.setEnabled(False)
            self.current_file.setText("Stopping after this photo…")

    def _on_sorted(self, result: SortResult) -> None:
        self.result = result
        self._show_result(result)
        self.context.refresh_all()  # moved photos have new paths; the grid and counts follow
        self.sort_finished.emit(result)

    def _show_result(self, result: SortResult) -> None:
        verbed = verb(result.mode, past=True)
        destination = html.escape(str(result.destination))
        if result.stopped or result.cancelled:
            text = (f"<b>{html.escape(result.message)}</b><br>{result.done:,} of {result.planned:,} {verbed}; "
                    "resume or undo it from Sort ▸ Sort History.")
            kind = "warn"
        else:
            order = list(self.plan.per_class) if self.plan else []
            counts = sorted(result.per_class.items(),
                            key=lambda item: (item[0] == UNSURE, order.index(item[0]) if item[0] in order else 0))
            per_class = ", ".join(f"{html.escape(name)} {count:,}" for name, count in counts)
            text = f"<b>Done: {plural(result.done, 'photo')} {verbed}</b> into {destination}"
            text += f" ({per_class})." if per_class else "."
            kind = "ok"
        if result.failed:
            kind = "warn"
            reasons = "<br>".join(f"{html.escape(f.source.name)}: {html.escape(f.reason)}" for f in result.failed[:4])
            more = f"<br>… and {len(result.failed) - 4} more" if len(result.failed) > 4 else ""
            text += (f"<br><b>{plural(len(result.failed), 'photo')} could not be sorted</b> and stayed where "
                     f"{'it was' if len(result.failed) == 1 else 'they were'}:<br>{reasons}{more}")
        if result.mode == MOVE and result.done:
            text += "<br>The project follows the moved photos: their labels and predictions are kept."
        set_note(self.message, text, kind)
        self.open_button.setVisible(result.destination.is_dir())

    def _on_sort_failed(self, error: str) -> None:
        set_note(self.message, f"<b>Nothing was sorted.</b> {html.escape(error)}", "error")
        self.sort_failed.emit(error)

    def _on_sort_worker_finished(self) -> None:
        """Finished: the table keeps showing what was sorted until an option changes. Stopped early: the same
        button resumes that sort. Failed before any photo moved: fix the destination, or try again."""
        self._set_running(False)
        result = self.result
        if result is None:
            return
        self.close_button.setText("Done")
        left = result.remaining + len(result.failed)
        if (result.stopped or result.cancelled or result.remaining) and result.sort_id is not None:
            self._resume_id = result.sort_id
            self.sort_button.setText(f"Resume ({plural(left, 'photo')} left)")
            self.preview_state.setText(f"{result.done:,} of {result.planned:,} {verb(result.mode, past=True)}")
        else:
            self.sort_button.setEnabled(False)
            self.sort_button.setText("Sorted ✓")
            self.preview_state.setText(f"{plural(result.done, 'photo')} {verb(result.mode, past=True)}")

    def open_destination(self) -> None:
        target = self.result.destination if self.result else None
        if target is not None and target.is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))

    # -- closing -----------------------------------------------------------------------------------------------

    def reject(self) -> None:
        if self.sort_task.busy:
            self.cancel()  # the photo being handled is finished, then the dialog can close
            return
        self._stop_preview()
        super().reject()

    def done(self, code: int) -> None:
        if self.sort_task.busy:
            return
        self._stop_preview()
        super().done(code)

    def _stop_preview(self) -> None:
        self._preview_timer.stop()
        self.preview_task.shutdown()

    def closeEvent(self, event) -> None:
        if self.sort_task.busy:
            self.cancel()
            event.ignore()
            return
        self._stop_preview()
        super().closeEvent(event)

