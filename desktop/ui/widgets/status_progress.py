"""A progress line for the status bar: text, a bar and Cancel, shown while background work runs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

TEXT_WIDTH = 300  # px: several lines side by side still fit a 1024 px window; longer text is elided


class StatusProgress(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.text = QLabel()
        self.text.setMaximumWidth(TEXT_WIDTH)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(120)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.hide()

    def set_text(self, text: str) -> None:
        """The text, elided to the line's width; all of it in the tooltip."""
        self.text.setText(self.text.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, TEXT_WIDTH))
        self.text.setToolTip(text)

    def show_step(self, text: str, done: int, total: int) -> None:
        self.set_text(text)
        if total:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        else:
            self.bar.setRange(0, 0)  # busy: no count yet
        self.show()
