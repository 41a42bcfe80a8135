"""The bar over the grid while a Check Photos finding is shown: what the kind means, "Not a problem" and, for
duplicate groups, "Keep one"."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSizePolicy, QWidget

# Narrower than this, the buttons go under the sentence instead of squeezing it into a column of single words.
BUTTONS_BESIDE_MIN_WIDTH = 560


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
        self.keep_button.setToolTip("Keep the suggested photo of each group (or the one you selected) and move "
                                    "the other copies aside into _duplicates, after a preview. Sort ▸ Undo Last "
                                    "Sort brings them back.")
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(8, 0, 8, 4)
        self._beside: bool | None = None
        self._arrange(beside=True)
        self.dismiss_button.clicked.connect(self.dismiss_requested)
        self.keep_button.clicked.connect(self.keep_one_requested)
        self.hide()

    @property
    def buttons_beside(self) -> bool:
        """Whether the buttons sit to the right of the sentence (wide) or under it (narrow)."""
        return bool(self._beside)

    def _arrange(self, beside: bool) -> None:
        if beside == self._beside:
            return
        self._beside = beside
        for widget in (self.text, self.keep_button, self.dismiss_button):
            self._layout.removeWidget(widget)
        self._layout.setColumnStretch(0, 1)
        if beside:
            self._layout.addWidget(self.text, 0, 0)
            self._layout.addWidget(self.keep_button, 0, 1)
            self._layout.addWidget(self.dismiss_button, 0, 2)
        else:
            self._layout.addWidget(self.text, 0, 0, 1, 3)
            self._layout.addWidget(self.keep_button, 1, 1)
            self._layout.addWidget(self.dismiss_button, 1, 2)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange(beside=event.size().width() >= BUTTONS_BESIDE_MIN_WIDTH)

    def show_finding(self, view) -> None:
        """``view``: a desktop.ui.health.FindingView, or None to hide the bar."""
        if view is None:
            self.hide()
            return
        hover = "" if view.flags_classes else " Hover a photo for its reason."
        text = view.explanation + hover
        if view.stale:  # restored from the last check, and photos changed since
            text = f"<b>{html.escape(view.stale, quote=False)}</b><br>{html.escape(text, quote=False)}"
        self.text.setText(text)
        self.keep_button.setVisible(view.grouped)
        self.show()
