"""The grid's keys act on the grid, whatever was clicked last.

Class keys, A, M, S and G are window-wide shortcuts on the grid's selection, while arrows go to the widget with the
keyboard focus. When that was a sidebar list or a button, → moved something else than the photo the next class key
labelled. So a sidebar click gives the focus back to the grid, and the moving keys pressed on a widget that has no
use for them (a button, which would move the focus, a scroll area, which would scroll a panel, the window itself)
are handed to the grid. Lists, tables, text fields, spin boxes and the like keep theirs.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, SignalInstance
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractButton, QAbstractItemView, QApplication, QScrollArea, QWidget

MOVING_KEYS = frozenset({Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Home,
                         Qt.Key.Key_End, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown})


class GridKeys(QObject):
    """Watches the main window (keys its children left unused reach it) and each widget of it that takes the focus
    without a use for moving keys; each of ``focus_after`` (signals such as the sidebar's view_clicked) gives the
    grid the keyboard."""

    def __init__(self, window: QWidget, grid: QAbstractItemView, focus_after: list[SignalInstance]) -> None:
        super().__init__(window)
        self.window, self.grid = window, grid
        self._handing_over = False  # the grid ignores a key at its edge: it comes back here, and must stop here
        window.installEventFilter(self)
        QApplication.instance().focusChanged.connect(self._on_focus_changed)
        for signal in focus_after:
            signal.connect(self.focus_grid)

    def _on_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        # Installed when such a widget first takes the focus (installing again changes nothing): widgets made
        # later, a finding's buttons or the Train tab's, are covered too.
        if isinstance(new, (QAbstractButton, QScrollArea)) and new.window() is self.window:
            new.installEventFilter(self)

    def focus_grid(self) -> None:
        self.grid.setFocus(Qt.FocusReason.OtherFocusReason)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # On the window: key events a child ignored propagate to its parents, so they arrive here after every
        # widget that wanted them (a text field, a list, a table) had its turn. On a button or scroll area: first.
        if (event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent) or self._handing_over
                or event.key() not in MOVING_KEYS or not self.grid.isVisible() or not self.grid.isEnabled()):
            return False
        self.focus_grid()
        self._handing_over = True
        try:
            QApplication.sendEvent(self.grid, QKeyEvent(event.type(), event.key(), event.modifiers(), event.text()))
        finally:
            self._handing_over = False
        return True
