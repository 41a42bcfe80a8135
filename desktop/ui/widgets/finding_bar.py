"""The bar over the grid while a Check Photos finding is shown: what it flags, "Not a problem" and, for duplicate
groups, "Keep one"."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget


class FindingBar(QWidget):
    dismiss_requested = Signal()
    keep_one_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("findingBar")
        self.text = QLabel()
        self.text.setObjectName("hint")
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.dismiss_button = QPushButton("Not a problem")
        self.dismiss_button.setToolTip("These photos are fine: stop flagging them (the selected ones, or every "
                                       "photo shown when none is selected). Ctrl+Z takes it back.")
        self.keep_button = QPushButton("Keep one")
        self.keep_button.setToolTip("Remove the other copies of each group from the project, keeping the "
                                    "suggested photo (or the one you selected). The files stay on disk; Ctrl+Z "
                                    "brings them back.")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 4)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.keep_button)
        layout.addWidget(self.dismiss_button)
        self.dismiss_button.clicked.connect(self.dismiss_requested)
        self.keep_button.clicked.connect(self.keep_one_requested)
        self.hide()

    def show_finding(self, view) -> None:
        """``view``: a desktop.ui.health.FindingView, or None to hide the bar."""
        if view is None:
            self.hide()
            return
        grouped = view.grouped
        hint = "Hover a photo for its reason. Select the ones that are fine, or pick the copy to keep."
        self.text.setText(f"{view.tooltip}. {hint}" if grouped else f"{view.tooltip}. Hover a photo for its reason.")
        self.keep_button.setVisible(grouped)
        self.show()
