"""Sort ▸ Sort photos: choose photos, destination and options; a live preview; run, cancel, undo, resume.

Everything that touches the disk or reads many rows runs in a ``Worker``: the preview (``plan_sort``), the sort
itself (``start_sort`` + ``run_sort``), undo and resume. The views read from the table models below; no widget
holds data of its own.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRectF,
    QSettings,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QDesktopServices, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSlider,
    QStyledItemDelegate,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import APP_NAME
from desktop.core.browse import ImageFilter, Show, list_images
from desktop.core.folders import list_folders
from desktop.core.sorting import (
    COPY,
    DEFAULT_PRECISION,
    DEFAULT_THRESHOLD,
    MOVE,
    UNSURE,
    PlannedOperation,
    SortPlan,
    SortProgress,
    SortRequest,
    SortResult,
    SortSummary,
    UndoResult,
    exclusive_sorting,
    interrupted_sorts,
    list_sorts,
    plan_sort,
    resume_sort,
    run_sort,
    sort_result,
    start_sort,
    undo_sort,
)
from desktop.ui.context import ProjectContext
from desktop.ui.shortcuts import SHORTCUTS
from desktop.ui.workers import Worker

UNSURE_COLOUR = "#9CA3AF"
OTHER_COLOUR = "#6B7280"
PRECISION_CHOICES = (0.9, 0.95, 0.99)  # what the trainer stores thresholds for (desktop.ml.trainer)
PRECISION_HINT = f"Thresholds per class, from photos it had not seen; the rest go to <b>{UNSURE}/</b>."
PREVIEW_DELAY_MS = 250  # options settle (typing a path, dragging the slider) before the preview is recomputed
OPERATION_ROLE = Qt.ItemDataRole.UserRole + 1
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 2

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


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'s' * (count != 1)}"


def _verb(mode: str, past: bool = False) -> str:
    if past:
        return "copied" if mode == COPY else "moved"
    return "Copy" if mode == COPY else "Move"


def _ing(mode: str) -> str:
    return "Copying" if mode == COPY else "Moving"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


# --- models ---------------------------------------------------------------------------------------------------------

class SortPreviewModel(QAbstractTableModel):
    """Every planned operation: the photo, its class folder, why, and the exact new name."""

    COLUMNS = ("Photo", "Folder", "Confidence", "New place")
    PHOTO, FOLDER, CONFIDENCE, DESTINATION = range(4)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.operations: list[PlannedOperation] = []
        self.destination: Path | None = None
        self.colours: dict[str, str] = {}

    def set_plan(self, plan: SortPlan | None, colours: dict[str, str]) -> None:
        self.beginResetModel()
        self.operations = list(plan.operations) if plan else []
        self.destination = plan.destination if plan else None
        self.colours = dict(colours)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.operations)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def _relative(self, path: Path) -> str:
        if self.destination is not None and path.is_relative_to(self.destination):
            return path.relative_to(self.destination).as_posix()
        return str(path)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        op = self.operations[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.PHOTO:
                return op.source.name
            if column == self.FOLDER:
                return op.class_name
            if column == self.CONFIDENCE:
                return {"label": "labelled", "unpredicted": "no prediction"}.get(op.why, percent(op.confidence))
            return self._relative(op.destination)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.PHOTO:
                return str(op.source)
            if column == self.DESTINATION:
                return str(op.destination)
            if column == self.CONFIDENCE:
                return {
                    "label": "A human label: it goes to its label's folder.",
                    "prediction": f"The model is {op.confidence:.1%} sure.",
                    "unsure": f"The model is only {percent(op.confidence)} sure: below the threshold.",
                    "unreachable": f"The model is {percent(op.confidence)} sure, but no confidence for its "
                                   "predicted class reaches the asked precision on its held-out photos.",
                    "unpredicted": "The active model has not predicted this photo yet.",
                }.get(op.why)
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == self.FOLDER:
            return QColor(self.colours.get(op.class_name, UNSURE_COLOUR if op.class_name == UNSURE else OTHER_COLOUR))
        if role == Qt.ItemDataRole.ForegroundRole and column == self.CONFIDENCE and op.why in ("unsure", "unreachable",
                                                                                            "unpredicted"):
            return QColor("#B45309")
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.CONFIDENCE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == OPERATION_ROLE:
            return op
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None


@dataclass(frozen=True)
class ClassCount:
    name: str
    count: int
    colour: str


class ClassCountsModel(QAbstractTableModel):
    """Photos per class folder (``_unsure`` last), drawn as coloured bars by ``CountBarDelegate``."""

    COLUMNS = ("Folder", "Photos", "")
    NAME, COUNT, BAR = range(3)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[ClassCount] = []

    def set_counts(self, per_class: dict[str, int], colours: dict[str, str]) -> None:
        self.beginResetModel()
        self.rows = [ClassCount(name, count, colours.get(name, UNSURE_COLOUR if name == UNSURE else OTHER_COLOUR))
                     for name, count in per_class.items()]
        self.endResetModel()

    @property
    def largest(self) -> int:
        return max((row.count for row in self.rows), default=0)

    def as_dict(self) -> dict[str, int]:
        return {row.name: row.count for row in self.rows}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.NAME:
                return row.name
            if column == self.COUNT:
                return f"{row.count:,}"
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == self.NAME:
            return QColor(row.colour)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.COUNT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and row.name == UNSURE:
            return "Photos below the confidence threshold, or without a prediction, go here for you to check."
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None


class CountBarDelegate(QStyledItemDelegate):
    def paint(self, painter: QPainter, option, index) -> None:
        row: ClassCount | None = index.data(Qt.ItemDataRole.UserRole)
        model = index.model()
        if row is None or not isinstance(model, ClassCountsModel):
            return super().paint(painter, option, index)
        largest = max(1, model.largest)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(option.rect).adjusted(6, 6, -8, -6)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#EEF0F3"))
        painter.drawRoundedRect(rect, 3, 3)
        painter.setBrush(QColor(row.colour))
        painter.drawRoundedRect(QRectF(rect.left(), rect.top(), max(3.0, rect.width() * row.count / largest),
                                       rect.height()), 3, 3)
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        return QSize(120, 24)


STATE_NAMES = {"planned": "interrupted", "running": "interrupted", "partial": "stopped early", "done": "done",
               "undoing": "undo interrupted", "undone": "undone"}


class SortHistoryModel(QAbstractTableModel):
    COLUMNS = ("#", "Date", "Mode", "Rule", "Photos", "State", "Destination")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sorts: list[SortSummary] = []

    def set_sorts(self, sorts: list[SortSummary]) -> None:
        self.beginResetModel()
        self.sorts = list(sorts)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.sorts)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        sort = self.sorts[index.row()]
        column = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            failed = f", {sort.failed:,} failed" if sort.failed else ""
            return {
                "#": str(sort.id),
                "Date": sort.created_at.strftime("%Y-%m-%d %H:%M"),
                "Mode": sort.mode,
                "Rule": sort.rule or "—",
                "Photos": f"{sort.done:,} of {sort.total:,}{failed}",
                "State": STATE_NAMES.get(sort.status, sort.status),
                "Destination": str(sort.destination),
            }[column]
        if role == Qt.ItemDataRole.ToolTipRole and column == "Destination":
            return str(sort.destination)
        if role == Qt.ItemDataRole.ForegroundRole and column == "State":
            if sort.status in ("planned", "running", "partial", "undoing"):
                return QColor("#B45309")
            if sort.status == "undone":
                return QColor("#6B7280")
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("#", "Photos"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == SUMMARY_ROLE:
            return sort
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None


# --- the dialog ------------------------------------------------------------------------------------------------------

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
        self.preview_worker: Worker | None = None
        self.sort_worker: Worker | None = None
        self._generation = 0  # bumped whenever an option changes; a preview of an older one is discarded
        self._shown_generation = -1
        self._resume_id: int | None = None  # a sort of this dialog that stopped early: "Resume" finishes it
        self._preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.refresh_preview)

        # options ---------------------------------------------------------------------------------------------
        self.photos = QComboBox()
        self.photos.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.photos.setMinimumContentsLength(22)
        self._fill_photo_choices()

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

        self.copy_radio = QRadioButton("Copy")
        self.move_radio = QRadioButton("Move")
        self.copy_radio.setToolTip("The originals stay where they are; the class folders get copies.")
        self.move_radio.setToolTip("The photos leave their folders; the project follows them, labels and all.")
        self.mode_group = QButtonGroup(self)
        self.mode_group.addButton(self.copy_radio)
        self.mode_group.addButton(self.move_radio)
        (self.move_radio if self.settings.value("sort/mode") == MOVE else self.copy_radio).setChecked(True)
        mode_row = QHBoxLayout()
        mode_row.setSpacing(16)
        mode_row.addWidget(self.copy_radio)
        mode_row.addWidget(self.move_radio)
        mode_row.addStretch(1)

        # The rule: a precision (per-class thresholds from the model's calibrated held-out predictions), or the
        # raw confidence threshold for those who want it (and for models without thresholds).
        self.rule = QComboBox()
        for precision in PRECISION_CHOICES:
            self.rule.addItem(f"Right at least {precision:.0%} of the time", precision)
        self.rule.addItem("A confidence threshold (advanced)", None)
        saved_rule = self.settings.value("sort/precision", DEFAULT_PRECISION)
        try:
            saved_rule = None if saved_rule in (None, "", "none") else float(saved_rule)
        except (TypeError, ValueError):  # a settings file edited by hand
            saved_rule = DEFAULT_PRECISION
        found = self.rule.findData(saved_rule)
        self.rule.setCurrentIndex(found if found >= 0 else self.rule.findData(DEFAULT_PRECISION))
        self.rule.setToolTip("Sort a photo only where the model is expected to be right at least this often (from "
                             "how it did on photos it had not seen); the others go to _unsure/ for you to check.")
        self.rule.currentIndexChanged.connect(self._on_rule_changed)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 100)
        self.threshold_spin = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=1.0, singleStep=0.05)
        self.threshold_spin.setFixedWidth(72)
        threshold = float(self.settings.value("sort/threshold", DEFAULT_THRESHOLD))
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

        self.follow_labels = QCheckBox("Labelled photos follow their label")
        self.follow_labels.setToolTip("A photo you labelled goes to its label's folder, whatever the model says.")
        self.follow_labels.setChecked(self.settings.value("sort/follow_labels", True, type=bool))

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        form.addRow("Photos", self.photos)
        form.addRow("Into", destination_row)
        form.addRow("Action", mode_row)
        threshold_box = QVBoxLayout()
        threshold_box.setSpacing(2)
        threshold_box.addWidget(self.rule)
        threshold_box.addLayout(threshold_row)
        threshold_box.addWidget(threshold_hint)
        form.addRow("Sort when", threshold_box)
        form.addRow("", self.follow_labels)

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

        # preview ---------------------------------------------------------------------------------------------
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

        # running -----------------------------------------------------------------------------------------------
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

        self.photos.currentIndexChanged.connect(self._follow_default_destination)
        self.photos.currentIndexChanged.connect(self.schedule_preview)
        self.destination.textChanged.connect(self.schedule_preview)
        self.mode_group.buttonToggled.connect(lambda _button, checked: checked and self.schedule_preview())
        self.follow_labels.toggled.connect(self.schedule_preview)
        self._on_rule_changed()

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
        saved = self.settings.value("sort/destination", "")
        if saved:
            return str(saved)
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
        return self._preview_timer.isActive() or self.preview_worker is not None

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
        if self.sort_worker is not None:
            return
        if self.preview_worker is not None:  # one at a time: the newest options are planned when it ends
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

        worker = Worker(job, self)
        worker.succeeded.connect(self._on_planned)
        worker.failed.connect(lambda error, generation=generation: self._on_plan_failed(generation, error))
        worker.finished.connect(self._on_preview_finished)
        self.preview_worker = worker
        self.preview_state.setText("Updating…")
        worker.start()

    def _on_preview_finished(self) -> None:
        self.preview_worker = None
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
            f"<b>{_plural(count, 'photo')}</b> into {_plural(folders, 'folder')}<br>"
            f"<span style='color:#6B7280'>{detail}</span><br>{outcome}" if count else
            "No photo to sort with these options.")
        self.counts_summary.setToolTip("Expected mistakes: the sum, over photos sorted by prediction, of 1 minus "
                                       "the model's calibrated confidence.")
        self.preview_state.setText(f"{_plural(count, 'photo')} · {_verb(plan.mode).lower()}")
        self.sort_button.setText(f"{_verb(plan.mode)} {_plural(count, 'photo')}" if count else "Sort")
        self.sort_button.setEnabled(count > 0 and self.sort_worker is None)
        self._show_notices(plan)
        self.preview_ready.emit()

    def _show_notices(self, plan: SortPlan) -> None:
        notes: list[str] = []
        model = self.context.active_model
        if plan.unpredicted and model is not None:
            one = plan.unpredicted == 1
            notes.append(f"<b>{_plural(plan.unpredicted, 'photo')} {'has' if one else 'have'} no prediction</b> from "
                         f"the active model yet, so {'it goes' if one else 'they go'} to {UNSURE}/. "
                         "Run Model ▸ Predict first.")
        notes.extend(html.escape(warning) for warning in plan.warnings)
        if plan.unreachable:
            names = ", ".join(f"“{html.escape(name)}”" for name in plan.unreachable)
            notes.append(f"No threshold of {names} reaches {plan.precision:.0%} on the model's held-out photos, so "
                         f"{'its' if len(plan.unreachable) == 1 else 'their'} predicted photos go to {UNSURE}/. "
                         "Label more of them, or ask for a lower precision.")
        if plan.already_sorted:
            notes.append(f"{_plural(plan.already_sorted, 'photo')} already in this destination's class folders "
                         "stay where they are.")
        if plan.skipped:
            reasons = "<br>".join(f"{html.escape(path.name)}: {html.escape(why)}" for path, why in plan.skipped[:3])
            more = f"<br>… and {len(plan.skipped) - 3} more" if len(plan.skipped) > 3 else ""
            notes.append(f"{_plural(len(plan.skipped), 'photo')} cannot be sorted and stay where they are:<br>"
                         f"{reasons}{more}")
        _set_banner(self.notice, "<br><br>".join(notes), "warn")

    # -- running -----------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.sort_worker is not None

    def start(self) -> None:
        """Sort what the preview shows; after a sort that stopped early, resume that one instead."""
        plan = self.plan
        project = self.context.project
        if plan is None or project is None or not plan.operations or self.sort_worker is not None:
            return
        self._remember_options()
        resume_id = self._resume_id

        def job(emit, cancel):
            # One lock from journalling to the last photo (as the CLI): no other sort can slip in between.
            with exclusive_sorting(project):
                if resume_id is not None:
                    return resume_sort(project, resume_id, emit, cancel)
                return run_sort(project, start_sort(project, plan), emit, cancel)

        self.result = None
        self._set_running(True, len(plan.operations))
        what = f"sort #{resume_id}" if resume_id is not None else _plural(len(plan.operations), 'photo')
        _set_banner(self.message, f"{'Resuming' if resume_id is not None else _ing(plan.mode)} {what} into "
                                  f"{html.escape(str(plan.destination))}…", "info")
        worker = Worker(job, self)
        worker.progress.connect(self._on_progress)
        worker.succeeded.connect(self._on_sorted)
        worker.failed.connect(self._on_sort_failed)
        worker.cancelled.connect(lambda: self._on_sort_failed("Cancelled before any photo was sorted."))
        worker.finished.connect(self._on_sort_worker_finished)
        self.sort_worker = worker
        worker.start()

    def _remember_options(self) -> None:
        self.settings.setValue("sort/destination", self.destination.text().strip())
        self.settings.setValue("sort/mode", self.mode)
        self.settings.setValue("sort/threshold", self.threshold_spin.value())
        self.settings.setValue("sort/precision", "none" if self.rule.currentData() is None else
                               self.rule.currentData())
        self.settings.setValue("sort/follow_labels", self.follow_labels.isChecked())

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
        if self.sort_worker is not None:
            self.sort_worker.cancel()
            self.cancel_button.setEnabled(False)
            self.current_file.setText("Stopping after this photo…")

    def _on_sorted(self, result: SortResult) -> None:
        self.result = result
        self._show_result(result)
        self.context.refresh_all()  # moved photos have new paths; the grid and counts follow
        self.sort_finished.emit(result)

    def _show_result(self, result: SortResult) -> None:
        verb = _verb(result.mode, past=True)
        destination = html.escape(str(result.destination))
        if result.stopped or result.cancelled:
            text = (f"<b>{html.escape(result.message)}</b><br>{result.done:,} of {result.planned:,} {verb}; "
                    "resume or undo it from Sort ▸ Sort History.")
            kind = "warn"
        else:
            order = list(self.plan.per_class) if self.plan else []
            counts = sorted(result.per_class.items(),
                            key=lambda item: (item[0] == UNSURE, order.index(item[0]) if item[0] in order else 0))
            per_class = ", ".join(f"{html.escape(name)} {count:,}" for name, count in counts)
            text = f"<b>Done: {_plural(result.done, 'photo')} {verb}</b> into {destination}"
            text += f" ({per_class})." if per_class else "."
            kind = "ok"
        if result.failed:
            kind = "warn"
            reasons = "<br>".join(f"{html.escape(f.source.name)}: {html.escape(f.reason)}" for f in result.failed[:4])
            more = f"<br>… and {len(result.failed) - 4} more" if len(result.failed) > 4 else ""
            text += (f"<br><b>{_plural(len(result.failed), 'photo')} could not be sorted</b> and stayed where "
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
        self.sort_worker = None
        self._set_running(False)
        result = self.result
        if result is None:
            return
        self.close_button.setText("Done")
        left = result.remaining + len(result.failed)
        if (result.stopped or result.cancelled or result.remaining) and result.sort_id is not None:
            self._resume_id = result.sort_id
            self.sort_button.setText(f"Resume ({_plural(left, 'photo')} left)")
            self.preview_state.setText(f"{result.done:,} of {result.planned:,} {_verb(result.mode, past=True)}")
        else:
            self.sort_button.setEnabled(False)
            self.sort_button.setText("Sorted ✓")
            self.preview_state.setText(f"{_plural(result.done, 'photo')} {_verb(result.mode, past=True)}")

    def open_destination(self) -> None:
        target = self.result.destination if self.result else None
        if target is not None and target.is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))

    # -- closing -----------------------------------------------------------------------------------------------

    def reject(self) -> None:
        if self.sort_worker is not None:
            self.cancel()  # the photo being handled is finished, then the dialog can close
            return
        self._stop_preview()
        super().reject()

    def done(self, code: int) -> None:
        if self.sort_worker is not None:
            return
        self._stop_preview()
        super().done(code)

    def _stop_preview(self) -> None:
        self._preview_timer.stop()
        if self.preview_worker is not None:
            self.preview_worker.stop()

    def closeEvent(self, event) -> None:
        if self.sort_worker is not None:
            self.cancel()
            event.ignore()
            return
        self._stop_preview()
        super().closeEvent(event)


# --- history ---------------------------------------------------------------------------------------------------------

class SortHistoryDialog(QDialog):
    """Every sort, newest first: undo any of them, resume the ones that did not finish."""

    def __init__(self, controller: SortController, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sort history")
        self.controller = controller
        self.table_model = SortHistoryModel(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.hint = QLabel("Undo puts a sort's moved photos back, or deletes its copies. Resume finishes a sort "
                           "that was interrupted.")
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.undo_button = QPushButton("Undo…")
        self.undo_button.clicked.connect(self.undo_selected)
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self.resume_selected)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.resume_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.hint)
        layout.addLayout(buttons)
        self.resize(820, 380)
        controller.history_changed.connect(self.reload)
        self.reload()

    def reload(self) -> None:
        project = self.controller.context.project
        self.table_model.set_sorts(list_sorts(project) if project is not None else [])
        if self.table_model.rowCount():
            self.table.selectRow(0)
        self._update_buttons()

    def selected(self) -> SortSummary | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.sorts[rows[0].row()] if rows else None

    def _update_buttons(self, *_args) -> None:
        sort = self.selected()
        busy = self.controller.busy
        self.undo_button.setEnabled(sort is not None and sort.status != "undone" and not busy)
        self.resume_button.setEnabled(sort is not None and sort.status in ("planned", "running", "partial")
                                      and not busy)

    def undo_selected(self) -> None:
        sort = self.selected()
        if sort is not None:
            self.controller.undo(sort.id, parent=self)

    def resume_selected(self) -> None:
        sort = self.selected()
        if sort is not None:
            self.controller.resume(sort.id, parent=self)


class InterruptedBanner(QFrame):
    """A quiet bar in the status bar: a sort did not finish; resume or undo it, or leave it for later."""

    def __init__(self, controller: SortController, parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.sort_id: int | None = None
        self.setObjectName("sortBanner")
        self.setStyleSheet("#sortBanner { background: #FFFBEB; border: 1px solid #FDE68A; border-radius: 6px; }"
                           "#sortBanner QLabel { color: #78350F; }"
                           "#sortBanner QToolButton { color: #92400E; border: none; padding: 1px 6px; "
                           "font-weight: 600; }")
        self.text = QLabel("")
        self.resume_button = QToolButton(text="Resume")
        self.undo_button = QToolButton(text="Undo")
        self.dismiss_button = QToolButton(text="✕")
        self.dismiss_button.setToolTip("Later (Sort ▸ Sort History)")
        self.resume_button.clicked.connect(lambda: self.sort_id and controller.resume(self.sort_id))
        self.undo_button.clicked.connect(lambda: self.sort_id and controller.undo(self.sort_id))
        self.dismiss_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 1, 4, 1)
        layout.setSpacing(4)
        layout.addWidget(self.text)
        layout.addWidget(self.resume_button)
        layout.addWidget(self.undo_button)
        layout.addWidget(self.dismiss_button)
        self.hide()

    def show_sorts(self, sorts: list[SortSummary]) -> None:
        if not sorts:
            self.sort_id = None
            self.hide()
            return
        sort = sorts[0]
        self.sort_id = sort.id
        others = f" (and {len(sorts) - 1} more)" if len(sorts) > 1 else ""
        undoing = sort.status == "undoing"
        what = "Undoing" if undoing else _ing(sort.mode)
        self.text.setText(f"{what} sort #{sort.id} did not finish: {sort.done:,} of {sort.total:,} done{others}.")
        self.resume_button.setVisible(not undoing)
        self.undo_button.setText("Finish undo" if undoing else "Undo")
        self.show()


class SortController(QObject):
    """The Sort menu: the dialog, undo (with a confirmation), history, and resume; owns their workers."""

    message = Signal(str)
    history_changed = Signal()

    def __init__(self, context: ProjectContext, window: QWidget) -> None:
        super().__init__(window)
        self.context = context
        self.window = window
        self.worker: Worker | None = None
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
        return self.worker is not None or (self.dialog is not None and self.dialog.busy)

    # -- entry points ----------------------------------------------------------------------------------------

    def show_dialog(self) -> SortDialog | None:
        if self.context.project is None:
            return None
        if self.worker is not None:
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
        sorts = [s for s in list_sorts(project) if s.status != "undone"]
        sort = next((s for s in sorts if s.id == sort_id), None) if sort_id is not None else \
            (sorts[0] if sorts else None)
        if sort is None:
            return None
        result = sort_result(project, sort.id)
        per_class = ", ".join(f"{name} {count:,}" for name, count in result.per_class.items())
        when = sort.created_at.strftime("%Y-%m-%d %H:%M") + (f", sorted by {sort.rule}" if sort.rule else "")
        if sort.mode == MOVE:
            text = (f"Undo sort #{sort.id} ({when})?\n\n{_plural(result.done, 'photo')} moved into "
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
        self._run(lambda emit, cancel: resume_sort(project, sort_id, emit, cancel), f"Resuming sort #{sort_id}…",
                  parent or self.window)
        return True

    def _run(self, job, title: str, parent: QWidget) -> None:
        from PySide6.QtWidgets import QProgressDialog

        progress = QProgressDialog(title, "Cancel", 0, 0, parent)
        progress.setWindowTitle(APP_NAME)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(300)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        worker = Worker(job, self)
        progress.canceled.connect(worker.cancel)

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
            self.worker = None
            self.context.refresh_all()
            self.check_interrupted()
            self.history_changed.emit()

        worker.progress.connect(on_progress)
        worker.succeeded.connect(on_done)
        worker.failed.connect(on_failed)
        worker.finished.connect(on_finished)
        self.worker = worker
        self.history_changed.emit()
        worker.start()

    def _report(self, result: SortResult | UndoResult, parent: QWidget) -> None:
        self.message.emit(result.message)
        details = ""
        if isinstance(result, UndoResult):
            title = f"Sort #{result.sort_id} undone" if result.status == "undone" else f"Undo of sort #{result.sort_id}"
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
        if self.dialog is not None and self.dialog.sort_worker is not None:
            self.dialog.sort_worker.stop()
        if self.worker is not None:
            self.worker.stop()
