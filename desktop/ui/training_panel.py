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
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.model_results import backbone_name, summary_of
from desktop.core.models_registry import ModelInfo
from desktop.core.training_types import CurvePoint, TrainingProgress, TrainingSummary
from desktop.ml.builds import full_build_required, torch_installed
from desktop.ml.options import DEFAULT_BACKBONE, FINETUNE_EPOCHS, FINETUNE_LEARNING_RATE, TrainingOptions
from desktop.progress import Progress
from desktop.ui.context import ProjectContext
from desktop.ui.training_results import TrainingResults, format_seconds
from desktop.ui.widgets.charts import LineChart, Series
from desktop.ui.widgets.note import vertical_scroll
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


@dataclass(frozen=True)
class BackboneChoice:
    name: str
    display_name: str
    description: str
    available: bool
    message: str  # where the weights come from, or how to get them
    download: str  # e.g. "(98 MB)" when a download is possible, else ""
    full_build_only: bool = False  # the CPU build cannot run it (a torchvision network)


def list_backbone_choices(_emit=None, _cancel=None) -> list[BackboneChoice]:
    """Runs in a worker: the weights files are read for their digests."""
    from desktop.ml.backbones import available_backbones, weights_status

    choices = []
    for spec in available_backbones():
        status = weights_status(spec.name)
        download = ""
        if status.url:  # a download the user may start
            download = f"({status.download_mb:.0f} MB)" if status.download_mb else "weights"
        choices.append(BackboneChoice(spec.name, spec.display_name, spec.description, status.available,
                                      status.message, download, not status.available and not torch_installed()))
    return choices


class TrainPanel(QWidget):
    train_requested = Signal(object)  # TrainingOptions
    cancel_requested = Signal()
    # title, image ids, and per image id: a badge for its tile and a tooltip line (why it is in the view)
    show_images_requested = Signal(str, list, object, object)

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
        if not torch_installed():  # the CPU build: fine-tuning needs torch; the item stays, saying why
            finetune = self.mode.model().item(self.mode.findData("finetune"))
            finetune.setText("Fine-tune (full build only)")
            finetune.setEnabled(False)
            finetune.setToolTip(str(full_build_required("Fine-tuning")))
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

        self.results_box = TrainingResults()
        self.results_box.show_images_requested.connect(self.show_images_requested)
        results = self.results_box
        self.result, self.per_class, self.confusion = results.result, results.per_class, results.confusion
        self.reliability, self.calibration = results.reliability, results.calibration
        self.results_box.hide()
        self.shown_model: int | None = None  # the model whose results show (None: none)
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
        scroll = vertical_scroll(content)
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
            needs = " — full build only" if choice.full_build_only else " — weights needed"
            self.backbone.addItem(choice.display_name + ("" if choice.available else needs), choice.name)
            row = self.backbone.count() - 1
            self.backbone.setItemData(row, choice.message if choice.full_build_only else choice.description,
                                      Qt.ItemDataRole.ToolTipRole)
            if choice.full_build_only:
                self.backbone.model().item(row).setEnabled(False)
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
        epoch = ""
        # Only fine-tuning has epochs (frozen training fits once, after cross-validation); during an epoch's
        # batches the epoch under way is the one after the last finished.
        if progress.phase == "training" and progress.epochs and progress.message.startswith("Fine-tuning"):
            under_way = progress.epoch + (1 if ": batch" in progress.message else 0)
            epoch = f"Epoch {max(1, min(under_way, progress.epochs))} of {progress.epochs}. "
        self.phase.setText(f"{epoch}{progress.message}" + (f" — {eta}" if eta else ""))
        if progress.total:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
        else:
            self.progress.setRange(0, 0)
        self._show_curves(progress.history, progress.epochs, "epoch" if epoch else "step")

    def _show_curves(self, history: tuple[CurvePoint, ...] | list[CurvePoint], epochs: int = 0,
                     x_label: str = "step") -> None:
        """``epochs``: the planned span of the x axis; 0 spans the points (a finished or reopened run)."""
        self.loss_chart.x_label = self.accuracy_chart.x_label = x_label
        self.loss_chart.set_series([
            Series("train", TRAIN_COLOUR, [h.train_loss for h in history]),
            Series("held out", VAL_COLOUR, [h.val_loss for h in history], dashed=True),
        ] if history else [], epochs)
        self.accuracy_chart.set_series([
            Series("train", TRAIN_COLOUR, [h.train_accuracy for h in history]),
            Series("held out", VAL_COLOUR, [h.val_accuracy for h in history], dashed=True),
        ] if history else [], epochs)

    def show_summary(self, summary: TrainingSummary) -> None:
        """One model's results and curves: after a run, and for the active model when a project opens."""
        self.shown_model = summary.model_id
        # Frozen training's curves are the final fit converging against the out-of-fold level: steps, not epochs.
        self._show_curves(summary.history, 0, "fitting step" if summary.evaluation == "out-of-fold" else "epoch")
        self.results_box.show_summary(summary)
        self.results_box.show()

    def show_model(self, model: ModelInfo | None) -> None:
        """The active model's results as its row recorded them (no torch), or an empty tab without one."""
        if model is None:
            self.shown_model = None
            self._show_curves([])
            self.results_box.hide()
            return
        if model.id != self.shown_model:
            self.phase.setText("")  # "Done: model #3…" belonged to the model shown before
        self.show_summary(summary_of(model))

    def follow_model(self, model: ModelInfo | None) -> None:
        """The choices the active model was trained with, so the next Train improves it rather than silently
        replacing it with a model of another kind. Automatic choices stay automatic; no model: the defaults."""
        options = model.settings.get("options") or {} if model is not None else {}
        training = model.settings.get("training") or {} if model is not None else {}
        mode = training.get("requested_mode") or options.get("mode") or "auto"
        self._select_backbone(options.get("backbone") or (model.backbone if model is not None else DEFAULT_BACKBONE))
        if mode == "finetune" and not torch_installed():
            mode = "auto"  # a model fine-tuned by the full build, retrained by the CPU build
        self.mode.setCurrentIndex(max(0, self.mode.findData(mode)))
        finetune = options.get("mode") == "finetune"
        epochs, learning_rate = options.get("epochs"), options.get("learning_rate")
        # What ran is recorded resolved: fine-tuning's defaults read as the automatic choice they came from.
        self.epochs.setValue(0 if epochs is None or (finetune and epochs == FINETUNE_EPOCHS) else int(epochs))
        self.learning_rate.setValue(
            0.0 if learning_rate is None or (finetune and learning_rate == FINETUNE_LEARNING_RATE)
            else float(learning_rate))
        self.seed.setValue(int(options.get("seed") or 0))

    def _select_backbone(self, name: str) -> None:
        """Select ``name``; before the list has loaded (it imports torch), it waits as a one-item stand-in."""
        index = self.backbone.findData(name)
        if index < 0:
            self.backbone.addItem(backbone_name(name), name)
            index = self.backbone.count() - 1
        self.backbone.setCurrentIndex(index)


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
        context.project_changed.connect(self._on_project_changed)
        context.model_changed.connect(self._on_model_changed)
        self._followed: tuple[object, int | None] | None = None  # (project, model id) the choices follow
        context.labelled.connect(self._on_labelled)
        self.new_labels = 0  # since the last training started

    @property
    def busy(self) -> bool:
        return self.task.busy

    def _on_project_changed(self) -> None:
        self._followed = None
        self.last_summary = None
        self.panel.shown_model = None  # model ids repeat across projects: #1 here is not #1 there
        self.panel.phase.setText("")
        self._on_model_changed()

    def _on_model_changed(self) -> None:
        """Another project or active model: show its results and follow its choices; a run under way keeps
        its curves, and shows the active model's results when it ends."""
        model = self.context.active_model
        key = (self.context.project, model.id if model is not None else None)
        if key != self._followed:
            self._followed = key
            self.panel.follow_model(model)
        shown = model is not None and model.id == self.panel.shown_model and not self.panel.results_box.isHidden()
        if not self.task.busy and not shown:  # a row's results never change: new predictions need no redraw
            self.panel.show_model(model)

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
                           on_progress=self._on_helper_progress, progress_type=Progress)

    def _on_helper_progress(self, event: Progress) -> None:
        if event.total:
            self.panel.weights_hint.setText(f"Downloading… {event.done / event.total:.0%}")

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
        self.panel.phase.setText(f"Done: model #{summary.model_id} is now active.")
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
        if self.panel.shown_model is None or self.panel.results_box.isHidden():  # cancelled or failed
            self.panel.show_model(self.context.active_model)

    def shutdown(self) -> None:
        self.task.shutdown(10_000)  # a training run stops between batches: give it longer than a helper
        self.helpers.shutdown(10_000)
