"""The Train tab: one click trains with good defaults; curves while it runs; honest metrics after."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.training_types import TrainingProgress, TrainingSummary
from desktop.ml.options import DEFAULT_BACKBONE, TrainingOptions
from desktop.ui.context import ProjectContext
from desktop.ui.widgets.charts import LineChart, ReliabilityDiagram, Series
from desktop.ui.widgets.metrics import ConfusionMatrixView, PerClassView
from desktop.ui.workers import WorkerGroup, WorkerSlot

MODE_CHOICES = (  # (key, short text that fits the combo, the explanation as its tooltip)
    ("auto", "Automatic", "Chosen from how many photos you labelled and whether there is a GPU"),
    ("frozen", "Frozen features (fast)", "Fast; best with few photos: the network runs once per photo"),
    ("finetune", "Fine-tune (slower)", "Slower; better with many photos: the last blocks of the network learn too"),
)
TRAIN_COLOUR, VAL_COLOUR = "#0072B2", "#D55E00"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 1:
        return ""
    return f"about {whole // 60} min {whole % 60:02d} s left" if whole >= 60 else f"about {whole} s left"


def format_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


@dataclass(frozen=True)
class BackboneChoice:
    name: str
    display_name: str
    description: str
    available: bool
    message: str  # where the weights come from, or how to get them
    download: str  # e.g. "(98 MB)" when a download is possible, else ""


def list_backbone_choices(_emit=None, _cancel=None) -> list[BackboneChoice]:
    """Runs in a worker: the backbone registry imports torch."""
    from desktop.ml.backbones import available_backbones, weights_status

    choices = []
    for spec in available_backbones():
        status = weights_status(spec.name)
        download = ""
        if status.url:  # a download the user may start
            download = f"({status.download_mb:.0f} MB)" if status.download_mb else "weights"
        choices.append(BackboneChoice(spec.name, spec.display_name, spec.description, status.available,
                                      status.message, download))
    return choices


class TrainPanel(QWidget):
    train_requested = Signal(object)  # TrainingOptions
    cancel_requested = Signal()
    show_images_requested = Signal(str, list)  # title, image ids

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("trainPanel")
        self.readiness = QLabel("Label some photos first.")
        self.readiness.setWordWrap(True)
        self.readiness.setObjectName("hint")

        self.backbone = QComboBox()
        self.backbone.addItem("Fast: EfficientNet-Lite0 (built in)", DEFAULT_BACKBONE)  # until the list loads
        self.mode = QComboBox()
        for key, text, tip in MODE_CHOICES:
            self.mode.addItem(text, key)
            self.mode.setItemData(self.mode.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.epochs = QSpinBox(minimum=0, maximum=500, value=0)
        self.epochs.setSpecialValueText("Automatic")
        self.learning_rate = QDoubleSpinBox(decimals=5, minimum=0.0, maximum=1.0, singleStep=0.0005, value=0.0)
        self.learning_rate.setSpecialValueText("Automatic")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.weights_hint = QLabel("")
        self.weights_hint.setWordWrap(True)
        self.weights_hint.setObjectName("hint")
        self.import_weights_button = QPushButton("Import weights file…")
        self.download_button = QPushButton("Download")
        weights_buttons = QHBoxLayout()
        weights_buttons.addWidget(self.import_weights_button)
        weights_buttons.addWidget(self.download_button)
        weights_buttons.addStretch(1)
        self.weights_box = QWidget()
        weights_layout = QVBoxLayout(self.weights_box)
        weights_layout.setContentsMargins(0, 0, 0, 0)
        weights_layout.addWidget(self.weights_hint)
        weights_layout.addLayout(weights_buttons)
        self.weights_box.hide()
        self.backbone.currentIndexChanged.connect(self._on_backbone_changed)
        for combo in (self.backbone, self.mode):  # long item texts must not widen the whole panel
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        self._weights: dict[str, tuple[bool, str, str]] = {}  # name -> (available, message, download size)
        form = QFormLayout()
        form.addRow("Backbone", self.backbone)
        form.addRow("", self.weights_box)
        form.addRow("Mode", self.mode)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Seed", self.seed)
        self.auto_retrain = QCheckBox("Retrain by itself after")
        self.auto_retrain.setToolTip("Train again in the background once you have labelled this many more photos; "
                                     "labelling goes on undisturbed, and the new model predicts every photo.")
        self.auto_retrain_count = QSpinBox(minimum=1, maximum=10_000, value=20, suffix=" new labels")
        auto = QHBoxLayout()
        auto.addWidget(self.auto_retrain)
        auto.addWidget(self.auto_retrain_count, 1)
        self.auto_retrain_count.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # may shrink
        form.addRow(auto)  # both columns: with a label column of its own this row set the pane's minimum width
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow pane puts labels above fields

        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("primary")
        self.train_button.clicked.connect(lambda: self.train_requested.emit(self.options()))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button, 1)
        buttons.addWidget(self.cancel_button)

        self.phase = QLabel("")
        self.phase.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.hide()

        self.loss_chart = LineChart("Loss")
        self.accuracy_chart = LineChart("Accuracy", y_max=1.0, percent=True)
        charts = QHBoxLayout()
        charts.addWidget(self.loss_chart)
        charts.addWidget(self.accuracy_chart)

        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setObjectName("resultSummary")
        per_class_view = PerClassView()
        self.per_class = per_class_view.per_class
        self.confusion = ConfusionMatrixView()
        self.confusion.cell_images_requested.connect(self.show_images_requested)
        self.reliability = ReliabilityDiagram()
        self.reliability.setToolTip("For the photos the model was, say, 80–90 % sure about, how many it got right. "
                                    "Bars on the dashed diagonal: its confidence can be taken at its word.")
        self.calibration = QLabel("")
        self.calibration.setWordWrap(True)
        self.calibration.setObjectName("hint")
        self.results_box = QGroupBox("Results")
        results_layout = QVBoxLayout(self.results_box)
        results_layout.addWidget(self.result)
        results_layout.addWidget(per_class_view)
        confusion_hint = QLabel("Confusion matrix — rows: true class, columns: predicted. Click a cell to see "
                                "its photos.")
        confusion_hint.setWordWrap(True)
        results_layout.addWidget(confusion_hint)
        results_layout.addWidget(self.confusion)
        results_layout.addWidget(self.reliability)
        results_layout.addWidget(self.calibration)
        self.results_box.hide()
        self.ready = False

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 12, 12, 12)
        title = QLabel("<b>Train a classifier</b>")
        layout.addWidget(title)
        layout.addWidget(self.readiness)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.phase)
        layout.addWidget(self.progress)
        layout.addLayout(charts, 1)
        layout.addWidget(self.results_box)
        layout.addStretch(0)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def options(self) -> TrainingOptions:
        return TrainingOptions(
            backbone=self.backbone.currentData() or DEFAULT_BACKBONE,
            mode=self.mode.currentData(),
            epochs=self.epochs.value() or None,
            learning_rate=self.learning_rate.value() or None,
            seed=self.seed.value(),
        )

    def set_backbones(self, choices: list[BackboneChoice]) -> None:
        current = self.backbone.currentData()
        self.backbone.blockSignals(True)
        self.backbone.clear()
        for choice in choices:
            label = choice.display_name if choice.available else f"{choice.display_name} — weights needed"
            self.backbone.addItem(label, choice.name)
            self.backbone.setItemData(self.backbone.count() - 1, choice.description, Qt.ItemDataRole.ToolTipRole)
            self._weights[choice.name] = (choice.available, choice.message, choice.download)
        self.backbone.setCurrentIndex(max(0, self.backbone.findData(current)))
        self.backbone.blockSignals(False)
        self._on_backbone_changed()

    def _on_backbone_changed(self) -> None:
        available, message, download = self._weights.get(self.backbone.currentData(), (True, "", ""))
        self.weights_box.setVisible(not available)
        self.weights_hint.setText(message)
        self.download_button.setText(f"Download {download}".strip())
        self.download_button.setVisible(bool(download))
        self.train_button.setEnabled(self.ready and available and not self.cancel_button.isEnabled())

    def set_readiness(self, text: str, ready: bool) -> None:
        self.readiness.setText(text)
        self.ready = ready
        self._on_backbone_changed()

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self._on_backbone_changed()
        self.progress.setVisible(running)
        for widget in (self.backbone, self.mode, self.epochs, self.learning_rate, self.seed):
            widget.setEnabled(not running)
        if running:
            self.results_box.hide()
            self.loss_chart.set_series([])
            self.accuracy_chart.set_series([])
            self.phase.setText("Starting…")

    def show_progress(self, progress: TrainingProgress) -> None:
        if progress.phase == "notice":  # news, not a step: keep the bar and curves as they are
            self.phase.setText(progress.message)
            return
        eta = format_eta(progress.eta_seconds)
        epoch = f"Epoch {progress.epoch} of {progress.epochs}. " if progress.phase == "training" else ""
        self.phase.setText(f"{epoch}{progress.message}" + (f" — {eta}" if eta else ""))
        if progress.total:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
        else:
            self.progress.setRange(0, 0)
        history = progress.history
        epochs = progress.epochs
        self.loss_chart.set_series([
            Series("train", TRAIN_COLOUR, [h.train_loss for h in history]),
            Series("held out", VAL_COLOUR, [h.val_loss for h in history], dashed=True),
        ], epochs)
        self.accuracy_chart.set_series([
            Series("train", TRAIN_COLOUR, [h.train_accuracy for h in history]),
            Series("held out", VAL_COLOUR, [h.val_accuracy for h in history], dashed=True),
        ], epochs)

    def show_summary(self, summary: TrainingSummary) -> None:
        accuracy = f"{summary.val_accuracy:.1%}" if summary.val_accuracy is not None else "n/a"
        chance = 1 / max(1, len(summary.classes))
        top = "".join(f" · top-{k}: {v:.1%}" for k, v in summary.top_k.items())
        notes = "".join(f"<br><i>{note}</i>" for note in summary.notes)
        if summary.evaluation == "out-of-fold":
            measured = (f"<b>{accuracy}</b> right, out-of-fold over {summary.val_images} labelled photos "
                        f"(each predicted by a model that had not seen it, {summary.folds} folds; chance: "
                        f"{chance:.0%}){top}<br>The model learnt from all {summary.train_images} photos: ")
        else:
            measured = (f"<b>{accuracy}</b> of {summary.val_images} validation photos right (chance: "
                        f"{chance:.0%}){top}<br>{summary.train_images} training photos: ")
        self.result.setText(f"{measured}{summary.backbone}, {summary.mode}, {summary.device}, "
                            f"{format_seconds(summary.seconds)}{notes}")
        # The run is over: its x axis spans the epochs it ran (a warm-started retrain stops well before the plan).
        self.loss_chart.set_series(self.loss_chart.series)
        self.accuracy_chart.set_series(self.accuracy_chart.series)
        self.per_class.set_per_class(summary.per_class)
        self.confusion.matrix.set_matrix(summary.classes, summary.confusion, summary.confusion_images)
        self.reliability.set_reliability(summary.reliability, summary.ece)
        if summary.ece is not None:
            before = (f" (before calibration {summary.ece_uncalibrated:.1%})"
                      if summary.ece_uncalibrated is not None else "")
            self.calibration.setText(
                f"Calibration error {summary.ece:.1%}{before}: how far, on average, the model's confidence is "
                f"from how often it is right (temperature {summary.temperature:.2f}).")
        else:
            self.calibration.setText("")
        self.results_box.show()
        self.phase.setText(f"Done: model #{summary.model_id} is now active.")


class TrainingController(QObject):
    """Runs training in a QThread; torch is imported there, never on the GUI thread."""

    message = Signal(str)
    trained = Signal(object)  # TrainingSummary
    # For the status bar, which shows a run whatever tab is open: each TrainingProgress, and start/end.
    progress = Signal(object)
    running_changed = Signal(bool)

    def __init__(self, context: ProjectContext, panel: TrainPanel, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.panel = panel
        self.task = WorkerSlot(self)  # the training run
        self.last_summary: TrainingSummary | None = None
        self._started = 0.0
        panel.train_requested.connect(self.start)
        panel.cancel_requested.connect(self.cancel)
        panel.import_weights_button.clicked.connect(self.choose_weights_file)
        panel.download_button.clicked.connect(self.download_weights)
        self.helpers = WorkerGroup(self)  # backbone list, weights import and download, side by side
        context.status_changed.connect(lambda _status: self.refresh_readiness())
        context.project_changed.connect(self.refresh_readiness)
        context.project_changed.connect(self._reset_new_labels)
        context.labelled.connect(self._on_labelled)
        self.new_labels = 0  # since the last training started

    @property
    def busy(self) -> bool:
        return self.task.busy

    def _reset_new_labels(self) -> None:
        self.new_labels = 0

    def _on_labelled(self, count: int) -> None:
        self.new_labels += count
        panel = self.panel
        if (panel.auto_retrain.isChecked() and self.new_labels >= panel.auto_retrain_count.value()
                and not self.task.busy and panel.train_button.isEnabled()):
            self.message.emit(f"{self.new_labels} new labels: retraining in the background…")
            self.start(panel.options())

    def _run_helper(self, job, on_result, busy_text: str = "") -> None:
        """A short background job (backbone list, weights import or download) that must not block the GUI."""
        if busy_text:
            self.panel.weights_hint.setText(busy_text)
        self.helpers.start(job, on_done=on_result, on_failed=self.panel.weights_hint.setText,
                           on_progress=self._on_helper_progress)

    def _on_helper_progress(self, event) -> None:
        done, total = getattr(event, "done", 0), getattr(event, "total", 0)
        if total:
            self.panel.weights_hint.setText(f"Downloading… {done / total:.0%}")

    def load_backbones(self) -> None:
        self._run_helper(list_backbone_choices, self.panel.set_backbones)

    def choose_weights_file(self) -> None:
        name = self.panel.backbone.currentData()
        path, _ = QFileDialog.getOpenFileName(self.panel, "Import ImageNet weights", "", "PyTorch weights (*.pth *.pt)")
        if path:
            self.import_weights(name, Path(path))

    def import_weights(self, name: str, path: Path) -> None:
        def job(_emit, _cancel):
            from desktop.ml.backbones import import_weights_file

            return import_weights_file(name, path)

        self._run_helper(job, lambda _status: self.load_backbones(), "Checking the weights file…")

    def download_weights(self) -> None:
        name = self.panel.backbone.currentData()

        def job(emit, cancel):
            from desktop.ml.backbones import download_weights

            return download_weights(name, emit, cancel)

        self._run_helper(job, lambda _path: self.load_backbones(), "Downloading…")

    def refresh_readiness(self) -> None:
        from desktop.core.readiness import training_readiness

        if self.context.project is None:
            self.panel.set_readiness("Open a project first.", False)
            return
        readiness = training_readiness(self.context.project)
        self.panel.set_readiness(readiness.message, readiness.ready)

    def train_now(self) -> bool:
        """Train with the panel's options if the project is ready; otherwise say why (Ctrl+T)."""
        if self.task.busy:
            self.message.emit("Training is already running (Cancel on the Train tab stops it).")
            return False
        self.refresh_readiness()
        if not self.panel.train_button.isEnabled():
            why = self.panel.readiness.text() if not self.panel.ready else self.panel.weights_hint.text()
            self.message.emit(f"Cannot train yet: {why}")
            return False
        self.start(self.panel.options())
        return True

    def start(self, options: TrainingOptions) -> None:
        if self.task.busy or self.context.project is None:
            return
        project = self.context.project

        def job(emit, cancel):
            from desktop.core.training import train_project  # imports torch, in this worker thread

            return train_project(project, options, on_progress=emit, cancel=cancel)

        self.panel.set_running(True)
        self.new_labels = 0
        self._started = time.monotonic()
        self.task.start(job, on_progress=self._on_progress, on_done=self._on_done, on_failed=self._on_failed,
                        on_cancelled=self._on_cancelled, on_finished=self._on_finished)
        self.running_changed.emit(True)

    def _on_progress(self, progress: TrainingProgress) -> None:
        self.panel.show_progress(progress)
        self.progress.emit(progress)

    def cancel(self) -> None:
        if self.task.busy:
            self.task.cancel()
            self.panel.phase.setText("Cancelling…")

    def _on_done(self, summary: TrainingSummary) -> None:
        self.last_summary = summary
        self.panel.show_summary(summary)
        accuracy = f"{summary.val_accuracy:.1%}" if summary.val_accuracy is not None else "n/a"
        how = "out-of-fold" if summary.evaluation == "out-of-fold" else "validation"
        self.message.emit(f"Training finished: {accuracy} {how} accuracy in {format_seconds(summary.seconds)}.")
        self.trained.emit(summary)

    def _on_failed(self, error: str) -> None:
        self.panel.phase.setText(f"Training stopped: {error}")
        self.message.emit(f"Training failed: {error}")

    def _on_cancelled(self) -> None:
        self.panel.phase.setText("Training cancelled. The active model is unchanged.")
        self.message.emit("Training cancelled.")

    def _on_finished(self) -> None:
        self.panel.set_running(False)
        self.refresh_readiness()
        self.running_changed.emit(False)

    def shutdown(self) -> None:
        self.task.shutdown(10_000)  # a training run stops between batches: give it longer than a helper
        self.helpers.shutdown(10_000)
