"""A progress line for the status bar: text, a bar and Cancel, shown while background work runs."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

TEXT_WIDTH = 300  # px at most: several lines side by side still fit a 1024 px window


class _ElidedText(QLabel):
    """One line that gives up width when the status bar is crowded (several jobs at once on a small screen):
    it ends in "…" then, the whole text in its tooltip."""

    def __init__(self) -> None:
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setMaximumWidth(TEXT_WIDTH)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        return QSize(min(40, super().sizeHint().width()), super().minimumSizeHint().height())

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.width())
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, shown)


class StatusProgress(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.text = _ElidedText()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(100)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.hide()

    def show_step(self, text: str, done: int, total: int) -> None:
        self.text.setText(text)
        if total:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        else:
            self.bar.setRange(0, 0)  # busy: no count yet
        self.show()
