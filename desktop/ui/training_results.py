"""The Train tab's results: one model's figures, each saying where it comes from (out-of-fold or the validation
photos), the same after a run and after reopening the project (both read a ``TrainingSummary``)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout

from desktop.core.model_results import describe_model, trained_when
from desktop.core.training_types import TrainingSummary
from desktop.ui.widgets.charts import ReliabilityDiagram
from desktop.ui.widgets.metrics import ConfusionMatrixView, PerClassView


def format_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _source(summary: TrainingSummary) -> str:
    """The few words each figure's heading carries."""
    return "out-of-fold" if summary.evaluation == "out-of-fold" else "validation photos"


def headline(summary: TrainingSummary) -> str:
    """Which model, when, what it is; how often it is right, measured how."""
    when = f", trained {trained_when(summary.trained_at)}" if summary.trained_at else ""
    what = describe_model(summary.backbone, summary.mode, summary.device)
    about = f"<b>Model #{summary.model_id}</b>{when}<br>{what}, {format_seconds(summary.seconds)}"
    accuracy = f"{summary.val_accuracy:.1%}" if summary.val_accuracy is not None else "n/a"
    chance = 1 / max(1, len(summary.classes))
    top = "".join(f" The right class was among its {k} likeliest for {v:.0%} of them."
                  for k, v in summary.top_k.items())
    if summary.evaluation == "out-of-fold":
        folds = f" ({summary.folds} folds)" if summary.folds else ""
        measured = (f"<b>{accuracy}</b> right out-of-fold: each of the {summary.val_images} labelled photos was "
                    f"predicted by a model trained without it{folds}; chance is {chance:.0%}.{top} The active "
                    f"model then learnt from all {summary.train_images} photos. Every figure below is out-of-fold; "
                    "the percentages on the photos are the active model's.")
    else:
        measured = (f"<b>{accuracy}</b> of the {summary.val_images} validation photos right (chance is "
                    f"{chance:.0%}), measured on this model, which trained on the other {summary.train_images} "
                    f"photos only.{top} Every figure below is on those validation photos.")
    notes = "".join(f"<br><i>{note}</i>" for note in summary.notes)
    if summary.not_recorded:
        notes += (f"<br><i>This model was trained by an older version of Pigeonhole: "
                  f"{_and(summary.not_recorded)} {'was' if len(summary.not_recorded) == 1 else 'were'} not "
                  "recorded. Train again to see them.</i>")
    return f"{about}<br>{measured}{notes}"


def calibration_text(summary: TrainingSummary) -> str:
    """What calibration did, in words: the fitted temperature is a detail, not something to read."""
    if summary.ece is None:
        return ""
    before = summary.ece_uncalibrated
    kept = summary.calibration.get("kept", abs(summary.temperature - 1.0) >= 1e-3)
    if not kept:
        done = "Its confidence was left as the network gave it"
        if summary.calibration or before is not None:
            done += ": adjusting it, tried on held-out photos, did not bring it closer to how often it is right"
    elif summary.temperature > 1.0:
        done = "Its confidence was toned down: it was surer of itself than its record justified"
    else:
        done = "Its confidence was raised: it was right more often than it claimed"
    gap = f"Measured {_source(summary)}, its confidence is on average {summary.ece:.1%} away from how often it is right"
    if before is not None and kept:
        gap += f" ({before:.1%} before the adjustment)"
    return f"{done}. {gap}."


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def cell_marks(summary: TrainingSummary, ids: list[int]) -> tuple[dict[int, str], dict[int, str]]:
    """For a confusion cell's photos: the tile badge and the tooltip line saying what put each in the cell."""
    badges, notes = {}, {}
    for image_id in ids:
        held = summary.held_out.get(image_id)
        if held is None:
            continue
        name = summary.classes[held.predicted_index]
        sure = f" {held.confidence:.0%}" if held.confidence is not None else ""
        badges[image_id] = f"held out: {name}{sure}"
        if summary.evaluation == "out-of-fold":
            notes[image_id] = (f"In this cell because a model trained without it predicted {name}{sure}. The pill "
                               "in the corner is the active model's, which learnt from this photo too.")
        else:
            notes[image_id] = (f"In this cell because the model predicted {name}{sure} for it, a validation photo "
                               "it did not train on.")
    return badges, notes


class TrainingResults(QGroupBox):
    """Per-class figures, the clickable confusion matrix and the reliability diagram of one model."""

    # title, image ids, badges and tooltip notes per image id (what put each photo in the cell)
    show_images_requested = Signal(str, list, object, object)

    def __init__(self, parent=None) -> None:
        super().__init__("Results", parent)
        self.summary: TrainingSummary | None = None
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setObjectName("resultSummary")
        self.per_class_title = QLabel("")
        per_class_view = PerClassView()
        self.per_class = per_class_view.per_class
        self.confusion_hint = QLabel("")
        self.confusion_hint.setWordWrap(True)
        self.confusion = ConfusionMatrixView()
        self.confusion.cell_images_requested.connect(self._on_cell)
        self.reliability = ReliabilityDiagram()
        self.reliability.setToolTip("For the photos the model was, say, 80–90 % sure about, how many it got right. "
                                    "Bars on the dashed diagonal: its confidence can be taken at its word.")
        self.calibration = QLabel("")
        self.calibration.setWordWrap(True)
        self.calibration.setObjectName("hint")
        layout = QVBoxLayout(self)
        layout.addWidget(self.result)
        layout.addWidget(self.per_class_title)
        layout.addWidget(per_class_view)
        layout.addWidget(self.confusion_hint)
        layout.addWidget(self.confusion)
        layout.addWidget(self.reliability)
        layout.addWidget(self.calibration)

    def show_summary(self, summary: TrainingSummary) -> None:
        self.summary = summary
        source = _source(summary)
        self.result.setText(headline(summary))
        self.per_class_title.setText(f"<b>Per class</b> ({source})")
        self.per_class.set_per_class(summary.per_class)
        clickable = " Click a cell to see its photos, each marked with the prediction that put it there." \
            if summary.confusion_images else ""
        self.confusion_hint.setText(f"<b>Confusion matrix</b> ({source}) — rows: true class, columns: predicted."
                                    f"{clickable}")
        self.confusion.matrix.set_matrix(summary.classes, summary.confusion, summary.confusion_images)
        self.reliability.title = f"Reliability ({source}): share right by confidence"
        self.reliability.set_reliability(summary.reliability, summary.ece)
        self.calibration.setText(calibration_text(summary))

    def _on_cell(self, title: str, ids: list) -> None:
        badges, notes = cell_marks(self.summary, ids) if self.summary is not None else ({}, {})
        self.show_images_requested.emit(f"{title} ({_source(self.summary)})" if self.summary else title, ids,
                                        badges, notes)
