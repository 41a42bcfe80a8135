"""A table of records the user acts on one at a time (model versions, sorts in the history): a click selects a
whole row and only one, no row numbers, each column as wide as its contents and the last one taking the rest;
``record_actions``, the row of buttons under it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
)


def record_table(model: QAbstractItemModel) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def record_actions(dialog: QDialog, *actions: tuple[str, Callable[[], object]]
                   ) -> tuple[QHBoxLayout, list[QPushButton]]:
    """The row under a record table and its buttons: one per action, ``(text, what a click does)``, on the left
    (what can be done to the selected record), and Close (it closes ``dialog``) on the right."""
    row = QHBoxLayout()
    buttons = []
    for text, on_click in actions:
        button = QPushButton(text)
        button.clicked.connect(on_click)
        row.addWidget(button)
        buttons.append(button)
    row.addStretch(1)
    close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    close.rejected.connect(dialog.reject)
    row.addWidget(close)
    return row, buttons
