"""Sort ▸ Sort photos: choose photos, destination and options; a live preview; run, cancel, resume.

Everything that touches the disk or reads many rows runs in a worker, one ``WorkerSlot`` each: the preview
(``plan_sort``) and the sort itself (``sort_plan``: journal and run, or ``run_sort`` again after it stopped early). The
views read from the table models in ``desktop.ui.sorting.models``; no widget holds data of its own.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSlider,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.browse import ImageFilter, Show, list_images
from desktop.core.folders import list_folders
from desktop.core.sorting import (
    COPY,
    DEFAULT_PRECISION,
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
from desktop.ui.settings import SORT_DESTINATION, SORT_FOLLOW_LABELS, SORT_MODE, SORT_PRECISION, SORT_THRESHOLD
from desktop.ui.sorting.models import UNSURE_COLOUR, ClassCountsModel, CountBarDelegate, SortPreviewModel
from desktop.ui.sorting.text import ing, plural, verb
from desktop.ui.workers import WorkerSlot

PRECISION_CHOICES = (0.9, 0.95, 0.99)  # what the trainer stores thresholds for (desktop.ml.trainer)
PRECISION_HINT = f"Thresholds per class, from photos it had not seen; the rest go to <b>{UNSURE}/</b>."
PREVIEW_DELAY_MS = 250  # options settle (typing a path, dragging the slider) before the preview is recomputed

BANNER_STYLES = {
    "info": "background: #EEF2FF; color: #1E3A8A; border: 1px solid #C7D2FE;",
    "ok": "background: #ECFDF3; color: #14532D; border: 1px solid #BBF7D0;",
    "warn": "background: #FFFBEB; color: #78350F; border: 1px solid #FDE68A;",
    "error": "background: #FEF2F2; color: #7F1D1D; border: 1px solid #FECACA;",
}


def _banner(kind: str = "info") -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    label.setOpenExternalLinks(False)
    _set_banner(label, "", kind)
    return label


def _set_banner(label: QLabel, text: str, kind: str = "info") -> None:
    label.setProperty("kind", kind)
    label.setStyleSheet(f"QLabel {{ {BANNER_STYLES[kind]} border-radius: 6px; padding: 8px 10px; }}")
    label.setText(text)
    label.setVisible(bool(text))



@dataclass(frozen=True)
class Selection:
    """Which photos: every one, one project folder, or the grid's current view (resolved in the worker)."""

    kind: str  # all | folder | view
    folder_id: int | None = None
    image_filter: ImageFilter | None = None


def _view_title(image_filter: ImageFilter, context: ProjectContext) -> str:
    if image_filter.title:
        return image_filter.title
    match image_filter.show:
        case Show.UNLABELLED:
            text = "Unlabelled photos"
        case Show.CLASS:
            name = next((c.name for c in context.classes.classes if c.id == image_filter.class_id), "a class")
            text = f"Labelled “{name}”"
        case Show.PREDICTED:
            text = f"Predicted “{image_filter.class_name}”"
        case Show.DISAGREES:
            text = "Model disagrees with the label"
        case Show.BROKEN:
            text = "Cannot be read"
        case _:
            text = "All photos"
    return text


class SortDialog(QDialog):
    """Options on the left, the preview on the right, the run at the bottom."""

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

        self._lay_out(self._build_options(), self._build_preview(), self._build_run_controls())

        self.photos.currentIndexChanged.connect(self._follow_default_destination)
        self.photos.currentIndexChanged.connect(self.schedule_preview)
        self.destination.textChanged.connect(self.schedule_preview)
        self.mode_group.buttonToggled.connect(lambda _button, checked: checked and self.schedule_preview())
        self.follow_labels.toggled.connect(self.schedule_preview)
        self._on_rule_changed()

    # -- building, one section at a time -----------------------------------------------------------------------

    def _build_options(self) -> QWidget:
        """The left column: which photos, where, copy or move, the rule; then where they go."""
        self.photos = QComboBox()
        self.photos.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.photos.setMinimumContentsLength(22)
        self._fill_photo_choices()

        destination_row = self._build_destination_row()
        mode_row = self._build_mode_row()
        rule_box = self._build_rule_box()

        self.follow_labels = QCheckBox("Labelled photos follow their label")
        self.follow_labels.setToolTip("A photo you labelled goes to its label's folder, whatever the model says.")
        self.follow_labels.setChecked(SORT_FOLLOW_LABELS.read(self.settings))

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        form.addRow("Photos", self.photos)
        form.addRow("Into", destination_row)
        form.addRow("Action", mode_row)
        form.addRow("Sort when", rule_box)
        form.addRow("", self.follow_labels)

        self._build_counts()

        options = QWidget()
        options.setFixedWidth(400)
        left = QVBoxLayout(options)
        left.setContentsMargins(0, 0, 8, 0)
        left.setSpacing(10)
        left.addLayout(form)
        left.addSpacing(10)
        left.addWidget(self._section("WHERE THEY GO"))
        left.addWidget(self.counts_summary)
        left.addWidget(self.counts_view)
        left.addWidget(self.notice)
        left.addStretch(1)
        return options

    def _build_destination_row(self) -> QHBoxLayout:
        """Where the class folders go: a path, and a button to choose one."""
        self.destination = QLineEdit()
        self.destination.setPlaceholderText("A folder outside the project")
        self._shown_default = self._default_destination()
        self.destination.setText(self._shown_default)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self.choose_destination)
        destination_row = QHBoxLayout()
        destination_row.setSpacing(6)
        destination_row.addWidget(self.destination, 1)
        destination_row.addWidget(self.choose_button)
        return destination_row

    def _build_mode_row(self) -> QHBoxLayout:
        """Copy or move, as last time."""
        self.copy_radio = QRadioButton("Copy")
        self.move_radio = QRadioButton("Move")
        self.copy_radio.setToolTip("The originals stay where they are; the class folders get copies.")
        self.move_radio.setToolTip("The photos leave their folders; the project follows them, labels and all.")
        self.mode_group = QButtonGroup(self)
        self.mode_group.addButton(self.copy_radio)
        self.mode_group.addButton(self.move_radio)
        (self.move_radio if SORT_MODE.read(self.settings) == MOVE else self.copy_radio).setChecked(True)
        mode_row = QHBoxLayout()
        mode_row.setSpacing(16)
        mode_row.addWidget(self.copy_radio)
        mode_row.addWidget(self.move_radio)
        mode_row.addStretch(1)
        return mode_row

    def _build_rule_box(self) -> QVBoxLayout:
        """When a prediction is trusted: a precision, or a raw confidence threshold with its slider."""
        # The rule: a precision (per-class thresholds from the model's calibrated held-out predictions), or the
        # raw confidence threshold for those who want it (and for models without thresholds).
        self.rule = QComboBox()
        for precision in PRECISION_CHOICES:
            self.rule.addItem(f"Right at least {precision:.0%} of the time", precision)
        self.rule.addItem("A confidence threshold (advanced)", None)
        found = self.rule.findData(SORT_PRECISION.read(self.settings))
        self.rule.setCurrentIndex(found if found >= 0 else self.rule.findData(DEFAULT_PRECISION))
        self.rule.setToolTip("Sort a photo only where the model is expected to be right at least this often (from "
                             "how it did on photos it had not seen); the others go to _unsure/ for you to check.")
        self.rule.currentIndexChanged.connect(self._on_rule_changed)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 100)
        self.threshold_spin = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=1.0, singleStep=0.05)
        self.threshold_spin.setFixedWidth(72)
        threshold = SORT_THRESHOLD.read(self.settings)
        self.threshold_spin.setValue(threshold)
        self.threshold_slider.setValue(round(threshold * 100))
        self.threshold_slider.valueChanged.connect(lambda value: self.threshold_spin.setValue(value / 100))
        self.threshold_spin.valueChanged.connect(self._on_threshold_spin)
        threshold_row = QHBoxLayout()
        threshold_row.setSpacing(8)
        threshold_row.addWidget(self.threshold_slider, 1)
        threshold_row.addWidget(self.threshold_spin)
        self.threshold_hint = threshold_hint = QLabel(PRECISION_HINT)  # sized for the longer text
        threshold_hint.setObjectName("hint")
        threshold_hint.setWordWrap(True)
        threshold_hint.setStyleSheet("padding: 0;")
        self.threshold_widgets = (self.threshold_slider, self.threshold_spin)
        rule_box = QVBoxLayout()
        rule_box.setSpacing(2)
        rule_box.addWidget(self.rule)
        rule_box.addLayout(threshold_row)
        rule_box.addWidget(threshold_hint)
        return rule_box

    def _build_counts(self) -> None:
        """Where they go: photos per class folder as bars, a summary, and the plan's notices."""
        self.counts = ClassCountsModel(self)
        self.counts_view = QTableView()
        self.counts_view.setModel(self.counts)
        self.counts_view.setItemDelegateForColumn(ClassCountsModel.BAR, CountBarDelegate(self.counts_view))
        self.counts_view.verticalHeader().hide()
        self.counts_view.horizontalHeader().hide()
        self.counts_view.setShowGrid(False)
        self.counts_view.setFrameShape(QFrame.Shape.NoFrame)
        self.counts_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.counts_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.counts_view.verticalHeader().setDefaultSectionSize(26)
        header = self.counts_view.horizontalHeader()
        header.setSectionResizeMode(ClassCountsModel.NAME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ClassCountsModel.COUNT, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ClassCountsModel.BAR, QHeaderView.ResizeMode.Stretch)
        self.counts_view.setStyleSheet("QTableView { background: transparent; }")
        self.counts_summary = QLabel("")
        self.counts_summary.setWordWrap(True)
        self.notice = _banner("warn")

    def _build_preview(self) -> QWidget:
        """The right column: every planned operation, and what the preview is doing."""
        self.preview = SortPreviewModel(self)
        self.preview_view = QTableView()
        self.preview_view.setModel(self.preview)
        self.preview_view.verticalHeader().hide()
        self.preview_view.verticalHeader().setDefaultSectionSize(24)
        self.preview_view.setAlternatingRowColors(True)
        self.preview_view.setShowGrid(False)
        self.preview_view.setWordWrap(False)
        self.preview_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.preview_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        preview_header = self.preview_view.horizontalHeader()
        preview_header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        preview_header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        preview_header.setStretchLastSection(True)
        for column, width in ((SortPreviewModel.PHOTO, 170), (SortPreviewModel.FOLDER, 120),
                              (SortPreviewModel.CONFIDENCE, 100)):
            self.preview_view.setColumnWidth(column, width)
        self.preview_state = QLabel("")
        self.preview_state.setObjectName("hint")
        self.preview_state.setStyleSheet("padding: 0;")
        preview_box = QWidget()
        right = QVBoxLayout(preview_box)
        right.setContentsMargins(8, 0, 0, 0)
        right.setSpacing(6)
        preview_title = QHBoxLayout()
        preview_title.addWidget(self._section("PREVIEW"))
        preview_title.addStretch(1)
        preview_title.addWidget(self.preview_state)
        right.addLayout(preview_title)
        right.addWidget(self.preview_view, 1)
        return preview_box

    def _build_run_controls(self) -> QHBoxLayout:
        """The bottom: the message and progress bar, the file being sorted, and the buttons."""
        self.message = _banner("info")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.current_file = QLabel("")
        self.current_file.setObjectName("hint")
        self.current_file.setStyleSheet("padding: 0;")
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
        buttons.addWidget(self.current_file)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.sort_button)
        return buttons

    def _lay_out(self, options: QWidget, preview_box: QWidget, buttons: QHBoxLayout) -> None:
        """The title, the two columns side by side, then the run controls."""
        title = QLabel("<span style='font-size:15px; font-weight:600'>Sort photos into class folders</span>")
        subtitle = QLabel("Each photo goes to a folder named after its class. Nothing is ever overwritten, and "
                          "Sort ▸ Undo Last Sort puts everything back.")
        subtitle.setObjectName("hint")
        subtitle.setStyleSheet("padding: 0;")
        subtitle.setWordWrap(True)

        body = QHBoxLayout()
        body.setSpacing(8)
        body.addWidget(options)
        divider = QFrame()
        divider.setFrameShape(QFrame.Shape.VLine)
        divider.setStyleSheet("color: #DADDE3;")
        body.addWidget(divider)
        body.addWidget(preview_box, 1)

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
        self.resize(1060, 660)
        self.setStyleSheet("QPushButton#primary:disabled { background: #A8BFF0; color: #F8FAFF; }")

    @staticmethod
    def _section(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("sectionTitle")
        return label

    # -- options -----------------------------------------------------------------------------------------------

    def _fill_photo_choices(self) -> None:
        project = self.context.project
        image_filter = self.context.images.image_filter
        total = self.context.status.images if self.context.status else None
        self.photos.addItem(f"All photos ({total:,})" if total is not None else "All photos", Selection("all"))
        folder_view = image_filter.show == Show.ALL and image_filter.folder_id is not None and not image_filter.title
        if image_filter != ImageFilter() and not folder_view:
            shown = self.context.images.rowCount()
            self.photos.addItem(f"The grid's view: {_view_title(image_filter, self.context)} ({shown:,})",
                                Selection("view", image_filter=image_filter))
            self.photos.setCurrentIndex(1)
        for folder in list_folders(project) if project else []:
            self.photos.addItem(f"Folder {folder.name} ({folder.images:,})", Selection("folder", folder.id))
            self.photos.setItemData(self.photos.count() - 1, str(folder.root), Qt.ItemDataRole.ToolTipRole)
            if image_filter.show == Show.ALL and image_filter.folder_id == folder.id:
                self.photos.setCurrentIndex(self.photos.count() - 1)

    def _default_destination(self) -> str:
        saved = SORT_DESTINATION.read(self.settings)
        if saved:
            return saved
        folders = list_folders(self.context.project) if self.context.project else []
        selection = self.photos.currentData()
        chosen = next((f for f in folders if selection is not None and f.id == selection.folder_id), None)
        folder = chosen or (folders[0] if len(folders) == 1 else None)  # named after the folder being sorted
        if folder is not None:
            return str(Path(folder.root).parent / f"{Path(folder.root).name} sorted")
        if folders:  # several folders: beside the first, named for what it holds
            return str(Path(folders[0].root).parent / "Photos sorted")
        return ""

    def _follow_default_destination(self) -> None:
        """Another folder chosen: an untouched default destination follows it ("<folder> sorted")."""
        if self.destination.text() == self._shown_default:
            self._shown_default = self._default_destination()
            self.destination.setText(self._shown_default)

    def choose_destination(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Where should the class folders go?",
                                                self.destination.text() or str(Path.home()))
        if path:
            self.destination.setText(path)

    def _on_rule_changed(self, *_args) -> None:
        raw = self.rule.currentData() is None
        for widget in self.threshold_widgets:
            widget.setVisible(raw)
        self.threshold_hint.setText(
            f"Photos the model is less sure about go to <b>{UNSURE}/</b> for you to check." if raw else
            PRECISION_HINT)
        self.schedule_preview()

    def _on_threshold_spin(self, value: float) -> None:
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(value * 100))
        self.threshold_slider.blockSignals(False)
        self.schedule_preview()

    @property
    def mode(self) -> str:
        return MOVE if self.move_radio.isChecked() else COPY

    def request(self) -> tuple[SortRequest, Selection]:
        selection: Selection = self.photos.currentData()
        request = SortRequest(
            destination=Path(self.destination.text().strip()).expanduser(),
            mode=self.mode,
            threshold=round(self.threshold_spin.value(), 2),
            precision=self.rule.currentData(),
            follow_labels=self.follow_labels.isChecked(),
            folder_id=selection.folder_id if selection.kind == "folder" else None,
        )
        return request, selection

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
        self.preview.set_plan(plan, colours)
        self.counts.set_counts(plan.per_class if plan else {}, colours)
        self.counts_view.setFixedHeight(max(1, self.counts.rowCount()) * 26 + 4)
        _set_banner(self.message, html.escape(problem), kind)
        if plan is None:
            self.preview_state.setText("")
            self.counts_summary.setText("")
            _set_banner(self.notice, "")
            self.sort_button.setText("Sort")
            self.sort_button.setEnabled(False)
            self.preview_ready.emit()
            return
        count = len(plan.operations)
        folders = len(plan.per_class)
        by_prediction = count - plan.from_labels - plan.below_threshold - plan.unpredicted
        parts = [f"{plan.from_labels:,} by their label" if plan.from_labels else "",
                 f"{by_prediction:,} by prediction" if by_prediction else "",
                 f"{plan.below_threshold + plan.unpredicted:,} to check" if plan.below_threshold + plan.unpredicted
                 else ""]
        detail = " · ".join(part for part in parts if part)
        unsure = plan.per_class.get(UNSURE, 0)
        outcome = f"{unsure:,} to {UNSURE}/"
        if by_prediction:
            outcome += f" · about {plan.expected_mistakes:.1f} of the {by_prediction:,} sorted by prediction " \
                       "expected in a wrong folder"
        self.counts_summary.setText(
            f"<b>{plural(count, 'photo')}</b> into {plural(folders, 'folder')}<br>"
            f"<span style='color:#6B7280'>{detail}</span><br>{outcome}" if count else
            "No photo to sort with these options.")
        self.counts_summary.setToolTip("Expected mistakes: the sum, over photos sorted by prediction, of 1 minus "
                                       "the model's calibrated confidence.")
        self.preview_state.setText(f"{plural(count, 'photo')} · {verb(plan.mode).lower()}")
        self.sort_button.setText(f"{verb(plan.mode)} {plural(count, 'photo')}" if count else "Sort")
        self.sort_button.setEnabled(count > 0 and not self.sort_task.busy)
        self._show_notices(plan)
        self.preview_ready.emit()

    def _show_notices(self, plan: SortPlan) -> None:
        notes: list[str] = []
        model = self.context.active_model
        if plan.unpredicted and model is not None:
            one = plan.unpredicted == 1
            notes.append(f"<b>{plural(plan.unpredicted, 'photo')} {'has' if one else 'have'} no prediction</b> from "
                         f"the active model yet, so {'it goes' if one else 'they go'} to {UNSURE}/. "
                         "Run Model ▸ Predict first.")
        notes.extend(html.escape(warning) for warning in plan.warnings)
        if plan.unreachable:
            names = ", ".join(f"“{html.escape(name)}”" for name in plan.unreachable)
            notes.append(f"No threshold of {names} reaches {plan.precision:.0%} on the model's held-out photos, so "
                         f"{'its' if len(plan.unreachable) == 1 else 'their'} predicted photos go to {UNSURE}/. "
                         "Label more of them, or ask for a lower precision.")
        if plan.already_sorted:
            notes.append(f"{plural(plan.already_sorted, 'photo')} already in this destination's class folders "
                         "stay where they are.")
        if plan.skipped:
            reasons = "<br>".join(f"{html.escape(path.name)}: {html.escape(why)}" for path, why in plan.skipped[:3])
            more = f"<br>… and {len(plan.skipped) - 3} more" if len(plan.skipped) > 3 else ""
            notes.append(f"{plural(len(plan.skipped), 'photo')} cannot be sorted and stay where they are:<br>"
                         f"{reasons}{more}")
        _set_banner(self.notice, "<br><br>".join(notes), "warn")

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
        self._remember_options()
        resume_id = self._resume_id

        def job(emit, cancel):
            if resume_id is not None:
                return run_sort(project, resume_id, emit, cancel)
            return sort_plan(project, plan, emit, cancel)  # journalled and run under one hold of the lock

        self.result = None
        self._set_running(True, len(plan.operations))
        what = f"sort #{resume_id}" if resume_id is not None else plural(len(plan.operations), 'photo')
        _set_banner(self.message, f"{'Resuming' if resume_id is not None else ing(plan.mode)} {what} into "
                                  f"{html.escape(str(plan.destination))}…", "info")
        self.sort_task.start(job, on_progress=self._on_progress, on_done=self._on_sorted,
                             on_failed=self._on_sort_failed,
                             on_cancelled=lambda: self._on_sort_failed("Cancelled before any photo was sorted."),
                             on_finished=self._on_sort_worker_finished)

    def _remember_options(self) -> None:
        SORT_DESTINATION.write(self.settings, self.destination.text().strip())
        SORT_MODE.write(self.settings, self.mode)
        SORT_THRESHOLD.write(self.settings, self.threshold_spin.value())
        SORT_PRECISION.write(self.settings, self.rule.currentData())
        SORT_FOLLOW_LABELS.write(self.settings, self.follow_labels.isChecked())

    def _set_running(self, running: bool, total: int = 0) -> None:
        for widget in (self.photos, self.destination, self.choose_button, self.copy_radio, self.move_radio,
                       self.rule, self.threshold_slider, self.threshold_spin, self.follow_labels, self.sort_button,
                       self.close_button):
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
        _set_banner(self.message, text, kind)
        self.open_button.setVisible(result.destination.is_dir())

    def _on_sort_failed(self, error: str) -> None:
        _set_banner(self.message, f"<b>Nothing was sorted.</b> {html.escape(error)}", "error")
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

