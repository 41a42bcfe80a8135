"""The sort dialog's options form: which photos, where, copy or move, when a prediction is trusted, and whether
labelled photos follow their label. It remembers the choices the user sorted with, and builds the ``SortRequest``.

Its rows hold their height at any width: the rule's note wraps under the rule (height, not width), and the
advanced threshold has a row of its own, so neither is squeezed by the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSlider,
    QWidget,
)

from desktop.core.browse import ImageFilter, Show
from desktop.core.folders import list_folders
from desktop.core.sorting import COPY, DEFAULT_PRECISION, MOVE, UNSURE, SortRequest
from desktop.ui.context import ProjectContext
from desktop.ui.settings import SORT_DESTINATION, SORT_FOLLOW_LABELS, SORT_MODE, SORT_PRECISION, SORT_THRESHOLD
from desktop.ui.widgets.note import wrapping

PRECISION_CHOICES = (0.9, 0.95, 0.99)  # what the trainer stores thresholds for (desktop.ml.trainer)
PRECISION_HINT = f"Thresholds per class, from photos it had not seen; the rest go to <b>{UNSURE}/</b>."
THRESHOLD_HINT = f"Photos the model is less sure about go to <b>{UNSURE}/</b> for you to check."


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


class SortOptions(QWidget):
    """The form; ``changed`` whenever an option that changes the plan changes."""

    changed = Signal()

    def __init__(self, context: ProjectContext, settings: QSettings, parent=None) -> None:
        super().__init__(parent)
        self.context, self.settings = context, settings
        self.photos = QComboBox()
        self.photos.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.photos.setMinimumContentsLength(22)
        self._fill_photo_choices()

        self.follow_labels = QCheckBox("Labelled photos follow their label")
        self.follow_labels.setToolTip("A photo you labelled goes to its label's folder, whatever the model says.")
        self.follow_labels.setChecked(SORT_FOLLOW_LABELS.read(self.settings))

        # A grid, not a QFormLayout: the rule's wrapped note gets the height its width needs (the form gave it
        # the height of a narrower guess), and a hidden row leaves no gap.
        self.form = form = QGridLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        form.setColumnStretch(1, 1)
        self._add_row("Photos", self.photos)
        self._add_row("Into", self._build_destination_row())
        self._add_row("Action", self._build_mode_row())
        self._build_rule()
        self._add_row("", self.follow_labels)

        self.photos.currentIndexChanged.connect(self._follow_default_destination)
        self.photos.currentIndexChanged.connect(self.changed)
        self.destination.textChanged.connect(self.changed)
        self.mode_group.buttonToggled.connect(lambda _button, checked: checked and self.changed.emit())
        self.follow_labels.toggled.connect(self.changed)
        self._on_rule_changed()

    # -- building ----------------------------------------------------------------------------------------------

    def _build_destination_row(self) -> QHBoxLayout:
        """Where the class folders go: a path, and a button to choose one."""
        self.destination = QLineEdit()
        self.destination.setPlaceholderText("A folder outside the project")
        self._shown_default = self._default_destination()
        self.destination.setText(self._shown_default)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self.choose_destination)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.destination, 1)
        row.addWidget(self.choose_button)
        return row

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
        row = QHBoxLayout()
        row.setSpacing(16)
        row.addWidget(self.copy_radio)
        row.addWidget(self.move_radio)
        row.addStretch(1)
        return row

    def _add_row(self, label: str, field: QWidget | QHBoxLayout) -> QLabel:
        row = self.form.rowCount()
        text = QLabel(label)
        text.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.form.addWidget(text, row, 0)
        if isinstance(field, QWidget):
            self.form.addWidget(field, row, 1)
        else:
            self.form.addLayout(field, row, 1)
        return text

    def _build_rule(self) -> None:
        """When a prediction is trusted: a precision (per-class thresholds from the model's calibrated held-out
        predictions), or the raw confidence threshold for those who want it, on a row of its own."""
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
        self.threshold_slider.setMinimumWidth(140)  # a step of 0.01 stays a drag of more than a pixel
        self.threshold_spin = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=1.0, singleStep=0.05)
        self.threshold_spin.setMinimumWidth(72)
        threshold = SORT_THRESHOLD.read(self.settings)
        self.threshold_spin.setValue(threshold)
        self.threshold_slider.setValue(round(threshold * 100))
        self.threshold_slider.valueChanged.connect(lambda value: self.threshold_spin.setValue(value / 100))
        self.threshold_spin.valueChanged.connect(self._on_threshold_spin)
        self.threshold_row = QWidget()
        row = QHBoxLayout(self.threshold_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.threshold_slider, 1)
        row.addWidget(self.threshold_spin)

        self.rule_hint = wrapping(QLabel(PRECISION_HINT))
        self.rule_hint.setObjectName("hint")
        self.rule_hint.setStyleSheet("padding: 0;")
        self._add_row("Sort when", self.rule)
        self.threshold_label = self._add_row("Threshold", self.threshold_row)
        self._add_row("", self.rule_hint)

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

    # -- reacting ----------------------------------------------------------------------------------------------

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
        self.threshold_row.setVisible(raw)
        self.threshold_label.setVisible(raw)
        self.rule_hint.setText(THRESHOLD_HINT if raw else PRECISION_HINT)
        self.changed.emit()

    def _on_threshold_spin(self, value: float) -> None:
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(value * 100))
        self.threshold_slider.blockSignals(False)
        self.changed.emit()

    # -- what the dialog asks ----------------------------------------------------------------------------------

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

    def remember(self) -> None:
        """The options a sort ran with are the next dialog's."""
        SORT_DESTINATION.write(self.settings, self.destination.text().strip())
        SORT_MODE.write(self.settings, self.mode)
        SORT_THRESHOLD.write(self.settings, self.threshold_spin.value())
        SORT_PRECISION.write(self.settings, self.rule.currentData())
        SORT_FOLLOW_LABELS.write(self.settings, self.follow_labels.isChecked())

    def set_editable(self, editable: bool) -> None:
        for widget in (self.photos, self.destination, self.choose_button, self.copy_radio, self.move_radio,
                       self.rule, self.threshold_slider, self.threshold_spin, self.follow_labels):
            widget.setEnabled(editable)
