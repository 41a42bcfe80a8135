"""The list-model base: rows replaced whole or repainted in place, a row's values by role through a proxy."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import ClassVar

import pytest
from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt

from desktop.core.classes import ClassInfo
from desktop.ui.models.classes import ClassListModel
from desktop.ui.models.rows import ListModel, Roles

pytestmark = pytest.mark.gui

COUNT_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass
class Fruit:
    name: str
    count: int


class FruitList(ListModel[Fruit]):
    ROLES: ClassVar[Roles] = {Qt.ItemDataRole.DisplayRole: attrgetter("name"), COUNT_ROLE: attrgetter("count")}


def test_rows_and_their_roles_through_a_proxy(qtbot):
    model = FruitList()
    assert model.rowCount() == 0
    model.set_rows([Fruit("apple", 3), Fruit("pear", 1)])
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.sort(0)
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == ["apple", "pear"]
    assert model.index(1).data(COUNT_ROLE) == 1
    assert model.index(0).data(Qt.ItemDataRole.ToolTipRole) is None  # a role the list does not show
    assert model.row(model.index(1)) == Fruit("pear", 1)
    assert model.row(QModelIndex()) is None
    assert model.rowCount(model.index(0)) == 0  # a flat list: no children


def test_rows_changed_repaints_every_row_in_place_and_nothing_when_empty(qtbot):
    model = FruitList()
    changed, resets = [], []
    model.dataChanged.connect(lambda first, last, roles: changed.append((first.row(), last.row(), list(roles))))
    model.modelReset.connect(lambda: resets.append(True))
    model.rows_changed()
    assert changed == []
    model.set_rows([Fruit("apple", 3), Fruit("pear", 1), Fruit("fig", 7)])
    model.rows[0].count = 4
    model.rows_changed([COUNT_ROLE])
    assert changed == [(0, 2, [COUNT_ROLE])] and len(resets) == 1
    assert model.index(0).data(COUNT_ROLE) == 4


def test_a_class_says_how_many_photos_it_has_in_words_and_keeps_its_rows_when_only_counts_change(qtbot):
    model = ClassListModel()
    model.set_classes([ClassInfo(1, "cat", "#E69F00", "1", 0, count=1), ClassInfo(2, "dog", "#56B4E9", None, 1)])
    tips = [model.index(row).data(Qt.ItemDataRole.ToolTipRole) for row in range(2)]
    assert tips == ["cat: 1 image. Press 1 to label.", "dog: 0 images. No shortcut key."]  # was "1 images"
    resets = []
    model.modelReset.connect(lambda: resets.append(True))
    model.set_classes([ClassInfo(1, "cat", "#E69F00", "1", 0, count=1200), ClassInfo(2, "dog", "#56B4E9", None, 1)])
    assert resets == [] and model.index(0).data(Qt.ItemDataRole.ToolTipRole) == "cat: 1,200 images. Press 1 to label."


def test_the_image_list_keeps_its_lookups_when_given_rows(qtbot, trained_project):
    """set_rows on the grid's model re-derives which row holds which photo (the base class's alone would not)."""
    from desktop.core.browse import ImageFilter, list_images
    from desktop.ui.models.images import ImageListModel

    rows = list_images(trained_project, ImageFilter())
    model = ImageListModel()
    model.set_rows(reversed(rows))
    assert model.rowCount() == len(rows)
    assert model.row_of(rows[0].id) == len(rows) - 1 and model.row_of(rows[-1].id) == 0
    model.set_rows(rows[:2])
    assert model.row_of(rows[0].id) == 0 and model.row_of(rows[-1].id) is None
