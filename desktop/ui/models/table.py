"""One base for the app's Qt table models (in the style of Vorta's ``archive_table_model.py``).

A subclass declares its columns once, as ``COLUMNS`` (a tuple of ``Column``) beside ``COL_*``-style integer
constants in the same order, and writes only ``cell()``: what one row shows in one column for one role. The base
answers ``columnCount``/``headerData``, holds the rows (``rows.RowsModel``: ``set_rows`` resets the model), aligns the
columns that ask for it, and hands the row object itself out under ``ROW_ROLE`` and a sortable value under
``SORT_ROLE``, so views and proxies never reach into the model's list or look a column up by its header text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import QAbstractTableModel, Qt

from desktop.ui.models.rows import Index, RowsModel, RowT

ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the row object itself: proxy-safe, unlike index.row()
SORT_ROLE = Qt.ItemDataRole.UserRole + 2  # a value that sorts right (a number, not its formatted text)

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter  # numbers line up on their last digit


@dataclass(frozen=True)
class Column:
    """One column: its header, an optional header tooltip and the alignment of its cells."""

    header: str
    tooltip: str = ""
    alignment: Qt.AlignmentFlag | None = None


class TableModel(RowsModel[RowT], QAbstractTableModel):
    """A flat table of ``RowT`` rows; subclasses set ``COLUMNS`` and override ``cell`` (and maybe ``sort_value``)."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    ROW_ROLE = ROW_ROLE
    SORT_ROLE = SORT_ROLE

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows = []

    def columnCount(self, parent: Index | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.COLUMNS):
            return None
        column = self.COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tooltip or None
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        row = self.row(index)
        if row is None:
            return None
        column = index.column()
        if role == ROW_ROLE:
            return row
        if role == SORT_ROLE:
            return self.sort_value(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and self.COLUMNS[column].alignment is not None:
            return int(self.COLUMNS[column].alignment)
        return self.cell(row, column, role)

    def cell(self, row: RowT, column: int, role: int) -> Any:
        """What ``row`` shows in ``column`` for ``role``; None for nothing."""
        return None

    def sort_value(self, row: RowT, column: int) -> Any:
        """The value ``SORT_ROLE`` sorts ``column`` by: its text unless a subclass knows better."""
        return self.cell(row, column, Qt.ItemDataRole.DisplayRole)
