"""Model ▸ Model versions: every trained model, compared on today's labelled photos; activate, note, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QInputDialog,
    QMessageBox,
    QVBoxLayout,
)

from desktop.core.model_results import backbone_name, device_name, mode_name, trained_when
from desktop.core.models_registry import ModelInfo, delete_model, list_models, set_active, set_note
from desktop.ui.context import ProjectContext
from desktop.ui.models.table import RIGHT, Column, TableModel
from desktop.ui.widgets.charts import LineChart, Series
from desktop.ui.widgets.note import hint
from desktop.ui.widgets.record_table import record_actions, record_table
from desktop.ui.workers import WorkerSlot

if TYPE_CHECKING:
    from desktop.core.model_comparison import VersionScore  # imports torch: only in the scoring worker

THEN_COLOUR, NOW_COLOUR = "#0072B2", "#D55E00"


def _percent(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "—"


class ModelsTableModel(TableModel[ModelInfo]):
    """One row per model, newest first; "Today" fills in once the versions have been re-scored."""

    COLUMNS = (Column(""), Column("#", alignment=RIGHT), Column("Trained"), Column("Backbone"), Column("Mode"),
               Column("Photos", alignment=RIGHT), Column("Accuracy then", alignment=RIGHT),
               Column("Today", alignment=RIGHT), Column("Note"))
    ACTIVE, ID, TRAINED, BACKBONE, MODE, PHOTOS, THEN, TODAY, NOTE = range(9)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.scores: dict[int, VersionScore] = {}  # model id -> its score on today's photos

    def set_models(self, models: list[ModelInfo]) -> None:
        self.set_rows(sorted(models, key=lambda m: m.id, reverse=True))

    def set_scores(self, scores: dict[int, VersionScore]) -> None:
        self.scores = scores
        if self.rows:
            self.dataChanged.emit(self.index(0, self.TODAY), self.index(len(self.rows) - 1, self.TODAY))

    def cell(self, model: ModelInfo, column: int, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(model, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(model, column)
        if role == Qt.ItemDataRole.FontRole and model.is_active:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _text(self, model: ModelInfo, column: int) -> str:
        match column:
            case self.ACTIVE:
                return "●" if model.is_active else ""
            case self.ID:
                return str(model.id)
            case self.TRAINED:
                return trained_when(model.created)
            case self.BACKBONE:
                return backbone_name(model.backbone)
            case self.MODE:
                return mode_name(model.mode)
            case self.PHOTOS:
                return str(model.train_images) if _out_of_fold(model) else f"{model.train_images} + {model.val_images}"
            case self.THEN:
                return _percent(model.val_accuracy)
            case self.TODAY:
                score = self.scores.get(model.id)
                if score is None:
                    return "…"
                return _percent(score.accuracy) if score.problem is None else "cannot score"
        return model.note

    def _tooltip(self, model: ModelInfo, column: int) -> str | None:
        if column == self.ACTIVE:
            return "The active model: its predictions are shown and used for sorting." if model.is_active else None
        if column == self.MODE:
            return f"Trained {device_name(model.device)} in {model.seconds:.0f} s"
        if column == self.THEN:
            if _out_of_fold(model):
                return (f"Out-of-fold, when it was trained: each of its {model.val_images} labelled photos predicted "
                        "by a model trained without it")
            return f"On its {model.val_images} validation photos, which it did not train on"
        if column == self.PHOTOS:
            if _out_of_fold(model):
                return f"Trained on all {model.train_images} labelled photos; accuracy measured out-of-fold on each"
            return f"{model.train_images} training photos, {model.val_images} validation photos"
        if column == self.TODAY:
            score = self.scores.get(model.id)
            if score is not None:
                where = ("labelled photos, out-of-fold" if score.method == "out-of-fold"
                         else "validation photos (fine-tuned: today's split)")
                return score.problem or (f"{score.scored} of today's {where}; {score.unknown_class} "
                                         "of classes this model does not know were left out")
        return None


def _out_of_fold(model: ModelInfo) -> bool:
    return model.metrics.get("evaluation") == "out-of-fold"


class ModelsDialog(QDialog):
    models_changed = Signal()

    def __init__(self, context: ProjectContext, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model versions")
        self.context = context
        self.task = WorkerSlot(self)
        self.table_model = ModelsTableModel(self)
        self.table = record_table(self.table_model)
        self.table.doubleClicked.connect(lambda _index: self.make_active())
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.chart = LineChart("Accuracy by version", y_max=1.0, percent=True, x_label="version",
                               empty_text="Train a model to see its versions here")
        self.chart.setMinimumHeight(190)
        self.hint = hint()

        actions, (self.activate_button, self.note_button, self.delete_button) = record_actions(
            self, ("Make active", self.make_active), ("Note…", self.edit_note), ("Delete…", self.delete))

        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.chart)
        layout.addWidget(self.hint)
        layout.addLayout(actions)
        self.resize(860, 560)
        self.reload()

    # -- data --------------------------------------------------------------------------------------------

    def reload(self) -> None:
        project = self.context.project
        self.table_model.set_models(list_models(project) if project is not None else [])
        if self.table_model.rowCount():
            self.table.selectRow(0)
        self._update_chart()
        self._update_buttons()
        self.score_versions()

    def score_versions(self) -> None:
        """Re-score every version on today's labelled photos, in the background (torch lives there)."""
        project = self.context.project
        if project is None or not self.table_model.rows or self.task.busy:
            return
        self.hint.setText("Scoring every version on today's labelled photos…")

        def job(emit, cancel):
            from desktop.core.model_comparison import score_versions

            return {score.model_id: score for score in score_versions(project, on_progress=emit, cancel=cancel)}

        self.task.start(job, on_done=self._on_scored,
                        on_failed=lambda error: self.hint.setText(f"Could not score the versions: {error}"))

    def _on_scored(self, scores: dict) -> None:
        self.table_model.set_scores(scores)
        self._update_chart()
        count = max((s.scored for s in scores.values()), default=0)
        self.hint.setText(f"“Today” scores every version the same way on today's {count} labelled photos "
                          "(out-of-fold, the same folds; fine-tuned versions on the validation split), so the "
                          "numbers compare; “Accuracy then” was measured on the photos of its day.")

    def _update_chart(self) -> None:
        ordered = sorted(self.table_model.rows, key=lambda m: m.id)
        then = [m.val_accuracy if m.val_accuracy is not None else float("nan") for m in ordered]
        series = [Series("when trained", THEN_COLOUR, then)]
        scores = self.table_model.scores
        if scores:
            now = [getattr(scores.get(m.id), "accuracy", None) for m in ordered]
            series.append(Series("today's photos", NOW_COLOUR, [v if v is not None else float("nan") for v in now],
                                 dashed=True))
        self.chart.set_series(series if ordered else [], len(ordered), [f"#{m.id}" for m in ordered])

    # -- actions -----------------------------------------------------------------------------------------

    def selected(self) -> ModelInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.row(rows[0]) if rows else None

    def _update_buttons(self, *_args) -> None:
        model = self.selected()
        self.activate_button.setEnabled(model is not None and not model.is_active)
        self.note_button.setEnabled(model is not None)
        self.delete_button.setEnabled(model is not None)

    def _changed(self) -> None:
        scores = self.table_model.scores
        self.table_model.set_models(list_models(self.context.project))
        self.table_model.set_scores(scores)
        self._update_chart()
        self._update_buttons()
        self.models_changed.emit()

    def make_active(self) -> None:
        model = self.selected()
        if model is not None and not model.is_active:
            set_active(self.context.project, model.id)
            self._changed()

    def edit_note(self) -> None:
        model = self.selected()
        if model is None:
            return
        text, ok = QInputDialog.getText(self, "Note", f"A note for model #{model.id}:", text=model.note)
        if ok:
            set_note(self.context.project, model.id, text)
            self._changed()

    def delete(self, confirm: bool = True) -> None:
        model = self.selected()
        if model is None:
            return
        if confirm:
            extra = " It is the active model: the newest remaining one takes its place." if model.is_active else ""
            answer = QMessageBox.question(
                self, "Delete model", f"Delete model #{model.id}, its file and its predictions?{extra}")
            if answer != QMessageBox.StandardButton.Yes:
                return
        delete_model(self.context.project, model.id)
        self.table_model.scores.pop(model.id, None)
        self._changed()

    def done(self, result: int) -> None:
        self.task.shutdown()
        super().done(result)
