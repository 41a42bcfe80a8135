"""A question whose safe answer is the default: Cancel, beside one named action (what Keep one and moving
duplicates aside ask before they move photos)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_before(parent: QWidget | None, title: str, text: str, action: str) -> bool:
    """Whether the user chose ``action`` ("Move", "Keep one") rather than Cancel, which Enter chooses."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel, parent)
    chosen = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is chosen
