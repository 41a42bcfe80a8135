"""The sort views' table models, on the app's ``TableModel`` base: the preview, the per-class counts, the history.

Columns are looked up by their constants (``SortHistoryModel.STATE``), never by header text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyledItemDelegate

from desktop.core.sorting import UNSURE, PlannedOperation, SortPlan, SortStatus, SortSummary
from desktop.ui.models.table import RIGHT, ROW_ROLE, Column, TableModel
from desktop.ui.sorting.text import percent

UNSURE_COLOUR = "#9CA3AF"
OTHER_COLOUR = "#6B7280"
WARNING_COLOUR = "#B45309"


def folder_colour(name: str, colours: dict[str, str]) -> str:
    """A class's own colour; grey for ``_unsure`` and for a folder the project has no class for."""
    return colours.get(name, UNSURE_COLOUR if name == UNSURE else OTHER_COLOUR)


class SortPreviewModel(TableModel[PlannedOperation]):
    """Every planned operation: the photo, its class folder, why, and the exact new name."""

    COLUMNS = (Column("Photo"), Column("Folder"), Column("Confidence", alignment=RIGHT), Column("New place"))
    PHOTO, FOLDER, CONFIDENCE, DESTINATION = range(4)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.destination: Path | None = None
        self.colours: dict[str, str] = {}

    def set_plan(self, plan: SortPlan | None, colours: dict[str, str]) -> None:
        self.destination = plan.destination if plan else None
        self.colours = dict(colours)
        self.set_rows(plan.operations if plan else [])

    def _relative(self, path: Path) -> str:
        if self.destination is not None and path.is_relative_to(self.destination):
            return path.relative_to(self.destination).as_posix()
        return str(path)

    def cell(self, op: PlannedOperation, column: int, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.PHOTO:
                return op.source.name
            if column == self.FOLDER:
                return op.class_name
            if column == self.CONFIDENCE:
                return {"label": "labelled", "unpredicted": "no prediction",
                        "companion": "with photo"}.get(op.why) or percent(op.confidence)
            return self._relative(op.destination)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.PHOTO:
                return str(op.source)
            if column == self.DESTINATION:
                return str(op.destination)
            if column == self.CONFIDENCE:
                return {
                    "label": "A human label: it goes to its label's folder.",
                    # Built for every row, so never formats a missing confidence (companions, unpredicted).
                    "prediction": f"The model is {op.confidence or 0:.1%} sure.",
                    "unsure": f"The model is only {percent(op.confidence)} sure: below the threshold.",
                    "unreachable": f"The model is {percent(op.confidence)} sure, but no confidence for its "
                                   "predicted class reaches the asked precision on its held-out photos.",
                    "unpredicted": "The active model has not predicted this photo yet.",
                    "companion": "A sidecar or the RAW/JPEG twin of the photo above: it goes where the photo goes.",
                }.get(op.why)
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == self.FOLDER:
            return QColor(folder_colour(op.class_name, self.colours))
        if role == Qt.ItemDataRole.ForegroundRole and column == self.CONFIDENCE and op.why in ("unsure", "unreachable",
                                                                                            "unpredicted"):
            return QColor(WARNING_COLOUR)
        return None


@dataclass(frozen=True)
class ClassCount:
    name: str
    count: int
    colour: str


class ClassCountsModel(TableModel[ClassCount]):
    """Photos per class folder (``_unsure`` last), drawn as coloured bars by ``CountBarDelegate``."""

    COLUMNS = (Column("Folder"), Column("Photos", alignment=RIGHT), Column(""))
    NAME, COUNT, BAR = range(3)

    def set_counts(self, per_class: dict[str, int], colours: dict[str, str]) -> None:
        self.set_rows(ClassCount(name, count, folder_colour(name, colours)) for name, count in per_class.items())

    @property
    def largest(self) -> int:
        return max((row.count for row in self.rows), default=0)

    def as_dict(self) -> dict[str, int]:
        return {row.name: row.count for row in self.rows}

    def cell(self, row: ClassCount, column: int, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.NAME:
                return row.name
            if column == self.COUNT:
                return f"{row.count:,}"
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == self.NAME:
            return QColor(row.colour)
        if role == Qt.ItemDataRole.ToolTipRole and row.name == UNSURE:
            return "Photos below the confidence threshold, or without a prediction, go here for you to check."
        return None


class CountBarDelegate(QStyledItemDelegate):
    """A class's count as a bar as long as its share of the largest class."""

    def paint(self, painter: QPainter, option, index) -> None:
        row: ClassCount | None = index.data(ROW_ROLE)
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


STATE_NAMES = {SortStatus.PLANNED: "interrupted", SortStatus.RUNNING: "interrupted",
               SortStatus.PARTIAL: "stopped early", SortStatus.DONE: "done", SortStatus.UNDOING: "undo interrupted",
               SortStatus.UNDONE: "undone"}
RESUMABLE = (SortStatus.PLANNED, SortStatus.RUNNING, SortStatus.PARTIAL)  # what "Resume" can finish


class SortHistoryModel(TableModel[SortSummary]):
    """Every sort of the project, newest first: when, how, how far it got and where to."""

    COLUMNS = (Column("#", alignment=RIGHT), Column("Date"), Column("Mode"), Column("Rule"),
               Column("Photos", alignment=RIGHT), Column("State"), Column("Destination"))
    ID, DATE, MODE, RULE, PHOTOS, STATE, DESTINATION = range(7)

    def cell(self, sort: SortSummary, column: int, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            match column:
                case self.ID:
                    return str(sort.id)
                case self.DATE:
                    return sort.created_at.strftime("%Y-%m-%d %H:%M")
                case self.MODE:
                    return sort.mode
                case self.RULE:
                    return sort.rule or "—"
                case self.PHOTOS:
                    failed = f", {sort.failed:,} failed" if sort.failed else ""
                    return f"{sort.done:,} of {sort.total:,}{failed}"
                case self.STATE:
                    return STATE_NAMES.get(sort.status, sort.status)
                case _:
                    return str(sort.destination)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.DESTINATION:
            return str(sort.destination)
        if role == Qt.ItemDataRole.ForegroundRole and column == self.STATE:
            if sort.status in (*RESUMABLE, SortStatus.UNDOING):
                return QColor(WARNING_COLOUR)
            if sort.status == SortStatus.UNDONE:
                return QColor(OTHER_COLOUR)
        return None
