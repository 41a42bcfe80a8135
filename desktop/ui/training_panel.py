"""The Train tab: one click trains with good defaults; curves while it runs; honest metrics after."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.training_types import (
    DEFAULT_BACKBONE,
    TrainingOptions,
    TrainingProgress,
    TrainingSummary,
)
from desktop.ui.context import ProjectContext
from desktop.ui.widgets.charts import LineChart, Series
from desktop.ui.widgets.metrics import ConfusionMatrixView, PerClassModel
from desktop.ui.workers import Worker

MODE_CHOICES = (
    ("auto", "Automatic (chosen from how many photos you labelled)"),
    ("frozen", "Frozen features — fast, best with few photos"),
    ("finetune", "Fine-tune — slower, better with many photos"),
)
TRAIN_COLOUR, VAL_COLOUR = "#0072B2", "#D55E00"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"about {whole // 60} min {whole % 60:02d} s left" if whole >= 60 else f"about {whole} s left"


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
        self.backbone.addItem("EfficientNet-Lite0 (built in, ImageNet)", DEFAULT_BACKBONE)
        self.mode = QComboBox()
        for key, text in MODE_CHOICES:
            self.mode.addItem(text, key)
        self.epochs = QSpinBox(minimum=0, maximum=500, value=0)
        self.epochs.setSpecialValueText("Automatic")
        self.learning_rate = QDoubleSpinBox(decimals=5, minimum=0.0, maximum=1.0, singleStep=0.0005, value=0.0)
        self.learning_rate.setSpecialValueText("Automatic")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        form = QFormLayout()
        form.addRow("Backbone", self.backbone)
        form.addRow("Mode", self.mode)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Seed", self.seed)

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
        self.per_class = PerClassModel(self)
        per_class_view = QTableView()
        per_class_view.setModel(self.per_class)
        per_class_view.verticalHeader().hide()
        per_class_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        per_class_view.setMinimumHeight(140)
        self.confusion = ConfusionMatrixView()
        self.confusion.setMinimumHeight(160)
        self.confusion.cell_images_requested.connect(self.show_images_requested)
        self.results_box = QGroupBox("Validation results")
        results_layout = QVBoxLayout(self.results_box)
        results_layout.addWidget(self.result)
        results_layout.addWidget(per_class_view)
        results_layout.addWidget(QLabel("Confusion matrix — rows: true class, columns: predicted. Click a cell."))
        results_layout.addWidget(self.confusion)
        self.results_box.hide()

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

    def set_backbones(self, choices: list[tuple[str, str, bool, str]]) -> None:
        """(name, display name, weights available, how to get them) for each backbone."""
        current = self.backbone.currentData()
        self.backbone.clear()
        for name, display, available, hint in choices:
            self.backbone.addItem(display if available else f"{display} — weights needed", name)
            index = self.backbone.count() - 1
            self.backbone.setItemData(index, hint, Qt.ItemDataRole.ToolTipRole)
        found = self.backbone.findData(current)
        self.backbone.setCurrentIndex(max(0, found))

    def set_readiness(self, text: str, ready: bool) -> None:
        self.readiness.setText(text)
        self.train_button.setEnabled(ready and not self.cancel_button.isEnabled())

    def set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        for widget in (self.backbone, self.mode, self.epochs, self.learning_rate, self.seed):
            widget.setEnabled(not running)
        if running:
            self.results_box.hide()
            self.loss_chart.set_series([])
            self.accuracy_chart.set_series([])
            self.phase.setText("Starting…")

    def show_progress(self, progress: TrainingProgress) -> None:
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
            Series("validation", VAL_COLOUR, [h.val_loss for h in history], dashed=True),
        ], epochs)
        self.accuracy_chart.set_series([
            Series("train", TRAIN_COLOUR, [h.train_accuracy for h in history]),
            Series("validation", VAL_COLOUR, [h.val_accuracy for h in history], dashed=True),
        ], epochs)

    def show_summary(self, summary: TrainingSummary) -> None:
        accuracy = f"{summary.val_accuracy:.1%}" if summary.val_accuracy is not None else "n/a"
        chance = 1 / max(1, len(summary.classes))
        top = "".join(f" · top-{k}: {v:.1%}" for k, v in summary.top_k.items())
        notes = "".join(f"<br><i>{note}</i>" for note in summary.notes)
        self.result.setText(
            f"<b>{accuracy}</b> of {summary.val_images} validation photos right (chance: {chance:.0%}){top}<br>"
            f"{summary.backbone}, {summary.mode}, {summary.train_images} training photos, "
            f"{summary.device}, {summary.seconds:.0f} s{notes}")
        self.per_class.set_rows(summary.per_class)
        self.confusion.matrix.set_matrix(summary.classes, summary.confusion, summary.confusion_images)
        self.results_box.show()
        self.phase.setText(f"Done: model #{summary.model_id} is now active.")


class TrainingController(QObject):
    """Runs training in a QThread; torch is imported there, never on the GUI thread."""

    message = Signal(str)
    trained = Signal(object)  # TrainingSummary

    def __init__(self, context: ProjectContext, panel: TrainPanel, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.panel = panel
        self.worker: Worker | None = None
        self.last_summary: TrainingSummary | None = None
        self._started = 0.0
        panel.train_requested.connect(self.start)
        panel.cancel_requested.connect(self.cancel)
        context.status_changed.connect(lambda _status: self.refresh_readiness())
        context.project_changed.connect(self.refresh_readiness)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def refresh_readiness(self) -> None:
        from desktop.core.readiness import training_readiness

        if self.context.project is None:
            self.panel.set_readiness("Open a project first.", False)
            return
        readiness = training_readiness(self.context.project)
        self.panel.set_readiness(readiness.message, readiness.ready)

    def start(self, options: TrainingOptions) -> None:
        if self.worker is not None or self.context.project is None:
            return
        project = self.context.project

        def job(emit, cancel):
            from desktop.core.training import train_project  # imports torch, in this worker thread

            return train_project(project, options, on_progress=emit, cancel=cancel)

        self.worker = Worker(job, self)
        self.worker.progress.connect(self.panel.show_progress)
        self.worker.succeeded.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self.panel.set_running(True)
        self._started = time.monotonic()
        self.worker.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.panel.phase.setText("Cancelling…")

    def _on_done(self, summary: TrainingSummary) -> None:
        self.last_summary = summary
        self.panel.show_summary(summary)
        accuracy = f"{summary.val_accuracy:.1%}" if summary.val_accuracy is not None else "n/a"
        self.message.emit(f"Training finished: {accuracy} validation accuracy in {summary.seconds:.0f} s.")
        self.trained.emit(summary)

    def _on_failed(self, error: str) -> None:
        self.panel.phase.setText(f"Training stopped: {error}")
        self.message.emit(f"Training failed: {error}")

    def _on_cancelled(self) -> None:
        self.panel.phase.setText("Training cancelled. The active model is unchanged.")
        self.message.emit("Training cancelled.")

    def _on_finished(self) -> None:
        if self.worker is not None:
            self.worker.deleteLater()
        self.worker = None
        self.panel.set_running(False)
        self.refresh_readiness()

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.stop(10_000)
