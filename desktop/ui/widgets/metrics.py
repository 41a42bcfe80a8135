"""Training results: the confusion matrix (cells open their images) and per-class precision/recall."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from desktop.ui.models.table import RIGHT, SORT_ROLE, Column, TableModel
from desktop.ui.style import ACCENT

IDS_ROLE = SORT_ROLE + 1  # the ids of the validation photos behind a confusion-matrix cell


@dataclass(frozen=True)
class TrueClass:
    """One row of the confusion matrix: a true class and how many of its photos went to each predicted class."""

    index: int
    name: str
    counts: tuple[int, ...]


class ConfusionMatrixModel(TableModel[TrueClass]):
    """Rows are true classes, columns predicted classes; each cell knows which validation images it holds.

    The columns are the classes, so they are declared per matrix: "1", "2", … (the row's number), the full name
    as the tooltip, so the matrix fits a narrow pane without cutting a name or scrolling sideways."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.class_names: list[str] = []
        self.image_ids: dict[tuple[int, int], list[int]] = {}

    def set_matrix(self, class_names: list[str], counts: list[list[int]],
                   image_ids: dict[tuple[int, int], list[int]] | None = None) -> None:
        self.class_names, self.image_ids = list(class_names), image_ids or {}
        self.COLUMNS = tuple(Column(str(number), f"predicted as: {name}", Qt.AlignmentFlag.AlignCenter)
                             for number, name in enumerate(self.class_names, 1))
        self.set_rows(TrueClass(index, self.class_names[index], tuple(row)) for index, row in enumerate(counts))

    def cell(self, row: TrueClass, column: int, role: int):
        count = row.counts[column]
        match role:
            case Qt.ItemDataRole.DisplayRole:
                return str(count) if count else ""
            case Qt.ItemDataRole.BackgroundRole:
                total = sum(row.counts) or 1
                colour = QColor(ACCENT if row.index == column else "#D55E00")
                colour.setAlphaF(0.08 + 0.6 * count / total if count else 0.0)
                return colour
            case Qt.ItemDataRole.ToolTipRole:
                guess = self.class_names[column]
                what = "correct" if row.index == column else f"{row.name} taken for {guess}"
                return f"{count} photos: {what} (predicted by a model that had not seen them). Click to show them."
            case _ if role == IDS_ROLE:
                return self.image_ids.get((row.index, column), [])
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        """Rows: "1  monuments" (the columns: the base, from ``COLUMNS``)."""
        if orientation == Qt.Orientation.Horizontal:
            return super().headerData(section, orientation, role)
        if section >= len(self.class_names):
            return None
        name = self.class_names[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{section + 1}  {name}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"true class: {name}"
        return None


def fit_height_to_rows(view: QTableView) -> None:
    """Every row shows: a results table is as tall as its rows, never a scroll area (or empty space) of its own."""
    view.resizeRowsToContents()
    rows = sum(view.rowHeight(r) for r in range(view.model().rowCount()))
    view.setFixedHeight(view.horizontalHeader().sizeHint().height() + rows + 2 * view.frameWidth() + 2)


class ConfusionMatrixView(QTableView):
    cell_images_requested = Signal(str, list)  # title, image ids

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.matrix = ConfusionMatrixModel(self)
        self.setModel(self.matrix)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setMinimumSectionSize(28)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setToolTip("Rows: true class. Columns: predicted class, numbered as the rows. Click a cell to see its "
                        "photos.")
        self.clicked.connect(self._on_clicked)
        self.matrix.modelReset.connect(self._fit_height)

    def _fit_height(self) -> None:
        fit_height_to_rows(self)

    def _on_clicked(self, index: QModelIndex) -> None:
        ids = index.data(IDS_ROLE)
        if ids:
            truth = self.matrix.class_names[index.row()]
            guess = self.matrix.class_names[index.column()]
            title = f"{truth} predicted as {guess}" if truth != guess else f"{truth}, predicted correctly"
            self.cell_images_requested.emit(title, list(ids))


@dataclass(frozen=True)
class ClassScores:
    name: str
    precision: float
    recall: float
    f1: float
    photos: int


class PerClassModel(TableModel[ClassScores]):
    COLUMNS = (Column("Class"), Column("Precision", alignment=RIGHT), Column("Recall", alignment=RIGHT),
               Column("F1", alignment=RIGHT), Column("Photos", alignment=RIGHT))
    NAME, PRECISION, RECALL, F1, PHOTOS = range(5)

    def set_per_class(self, per_class: dict[str, dict[str, float]]) -> None:
        self.set_rows(ClassScores(name, v["precision"], v["recall"], v["f1"], int(v["support"]))
                      for name, v in per_class.items())

    def cell(self, row: ClassScores, column: int, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.NAME:
                return row.name
            if column == self.PHOTOS:
                return str(row.photos)
            return f"{(row.precision, row.recall, row.f1)[column - self.PRECISION]:.0%}"
        if role == Qt.ItemDataRole.ToolTipRole and column == self.NAME:
            return row.name  # the full class name where the column elides it
        return None


class PerClassView(QTableView):
    """Precision, recall, F1 and photos per class: the class names get the width, the numbers what they need."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.per_class = PerClassModel(self)
        self.setModel(self.per_class)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.per_class.modelReset.connect(lambda: fit_height_to_rows(self))
