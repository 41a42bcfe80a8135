"""Training results: the confusion matrix (cells open their images) and per-class precision/recall."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from desktop.ui.style import ACCENT

IDS_ROLE = Qt.ItemDataRole.UserRole + 1


class ConfusionMatrixModel(QAbstractTableModel):
    """Rows are true classes, columns predicted classes; each cell knows which validation images it holds."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.class_names: list[str] = []
        self.counts: list[list[int]] = []
        self.image_ids: dict[tuple[int, int], list[int]] = {}

    def set_matrix(self, class_names: list[str], counts: list[list[int]],
                   image_ids: dict[tuple[int, int], list[int]] | None = None) -> None:
        self.beginResetModel()
        self.class_names, self.counts, self.image_ids = list(class_names), counts, image_ids or {}
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.counts)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.class_names)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        count = self.counts[row][column]
        match role:
            case Qt.ItemDataRole.DisplayRole:
                return str(count) if count else ""
            case Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignCenter)
            case Qt.ItemDataRole.BackgroundRole:
                total = sum(self.counts[row]) or 1
                colour = QColor(ACCENT if row == column else "#D55E00")
                colour.setAlphaF(0.08 + 0.6 * count / total if count else 0.0)
                return colour
            case Qt.ItemDataRole.ToolTipRole:
                truth, guess = self.class_names[row], self.class_names[column]
                what = "correct" if row == column else f"{truth} taken for {guess}"
                return f"{count} photos: {what} (predicted by a model that had not seen them). Click to show them."
            case _ if role == IDS_ROLE:
                return self.image_ids.get((row, column), [])
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        """Rows: "1  monuments"; columns: "1", the same number, so the matrix fits a narrow pane without cutting
        a name or scrolling sideways (the full name is the column's tooltip)."""
        if section >= len(self.class_names):
            return None
        name = self.class_names[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{section + 1}  {name}" if orientation == Qt.Orientation.Vertical else str(section + 1)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"true class: {name}" if orientation == Qt.Orientation.Vertical else f"predicted as: {name}"
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


class PerClassModel(QAbstractTableModel):
    COLUMNS = ("Class", "Precision", "Recall", "F1", "Photos")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, float, float, float, int]] = []

    def set_rows(self, per_class: dict[str, dict[str, float]]) -> None:
        self.beginResetModel()
        self.rows = [(name, v["precision"], v["recall"], v["f1"], int(v["support"])) for name, v in per_class.items()]
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        value = self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{value:.0%}" if isinstance(value, float) else str(value)
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return value  # the full class name where the column elides it
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
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
