"""Guards against a Qt binding that mismanages references (PySide6 6.12.0 crashed Python 3.11 this way)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt


class _Model(QAbstractListModel):
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 1

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        return None


def test_returning_none_from_overrides_keeps_none_alive(qapp):
    model = _Model()
    index = model.index(0)
    before = sys.getrefcount(None)
    for _ in range(2000):
        index.data(Qt.ItemDataRole.DisplayRole)
    # A sound binding leaves None's count unchanged (give or take unrelated activity).
    assert sys.getrefcount(None) - before > -100
