"""The table-model base: columns declared once, rows reset as a whole, the row and a sort value by role."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtCore import QSortFilterProxyModel, Qt

from desktop.ui.models.table import RIGHT, ROW_ROLE, SORT_ROLE, Column, TableModel

pytestmark = pytest.mark.gui


@dataclass(frozen=True)
class Fruit:
    name: str
    count: int


class FruitModel(TableModel[Fruit]):
    COLUMNS = (Column("Fruit", tooltip="What it is"), Column("How many", alignment=RIGHT))
    NAME, COUNT = range(2)

    def cell(self, row: Fruit, column: int, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name if column == self.NAME else f"{row.count:,}"
        return None

    def sort_value(self, row: Fruit, column: int):
        return row.name if column == self.NAME else row.count


def test_counts_headers_and_cells(qtbot):
    model = FruitModel()
    assert (model.rowCount(), model.columnCount()) == (0, 2)
    model.set_rows([Fruit("apple", 1200), Fruit("pear", 3)])
    assert (model.rowCount(), model.columnCount()) == (2, 2)
    assert model.rowCount(model.index(0, 0)) == 0  # a flat table: no children
    horizontal = Qt.Orientation.Horizontal
    assert [model.headerData(c, horizontal) for c in range(2)] == ["Fruit", "How many"]
    assert model.headerData(0, horizontal, Qt.ItemDataRole.ToolTipRole) == "What it is"
    assert model.headerData(1, horizontal, Qt.ItemDataRole.ToolTipRole) is None
    assert model.headerData(0, Qt.Orientation.Vertical) is None
    assert model.index(0, FruitModel.COUNT).data() == "1,200"
    assert model.index(0, FruitModel.COUNT).data(Qt.ItemDataRole.TextAlignmentRole) == int(RIGHT)
    assert model.index(0, FruitModel.NAME).data(Qt.ItemDataRole.TextAlignmentRole) is None


def test_set_rows_resets_and_row_finds_the_object(qtbot):
    model = FruitModel()
    resets = []
    model.modelReset.connect(lambda: resets.append(model.rowCount()))
    model.set_rows([Fruit("apple", 1)])
    model.set_rows([Fruit("fig", 2), Fruit("kiwi", 3)])
    assert resets == [1, 2]
    assert model.rows == (Fruit("fig", 2), Fruit("kiwi", 3))
    assert model.row(model.index(1, 0)) == Fruit("kiwi", 3)
    assert model.row(model.index(5, 0)) is None


def test_roles_survive_a_sorting_proxy(qtbot):
    model = FruitModel()
    model.set_rows([Fruit("apple", 1200), Fruit("pear", 3), Fruit("fig", 40)])
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.sort(FruitModel.COUNT)  # by number: 3 < 40 < 1200, where the text would give "1,200" first
    assert [proxy.index(r, 0).data(ROW_ROLE).name for r in range(3)] == ["pear", "fig", "apple"]
