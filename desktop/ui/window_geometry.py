"""Windows that fit the screen: the main window's first size from the screen, the user's size and docks remembered
(and restored only where they still fit), dialogs no bigger than the screen, and the collection map docked beside
the grid.

The rules are small functions of rectangles (``first_geometry``, ``saved_geometry_fits``, ``fitted_size``) so tests
can give them any screen; the Qt glue below only reads the screen and calls them.
"""

from __future__ import annotations

import struct

from PySide6.QtCore import QByteArray, QEvent, QMargins, QObject, QPoint, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget
from shiboken6 import isValid

from desktop.ui.settings import WINDOW_GEOMETRY, WINDOW_STATE

FIRST_SHARE = 0.9  # a first start takes this much of the screen's free area
FIRST_MAX = QSize(1600, 1000)  # beyond this a bigger window only spreads the same controls thinner
TITLE_BAR = 32  # what a window manager's frame adds above a window (the screen's free area must hold it too)

# Qt's saveGeometry() record (QWidget, version 2 and 3): magic, version, frame and normal rectangles, screen,
# maximised, full screen, … — big-endian, each rectangle as left, top, right, bottom.
_GEOMETRY_MAGIC = 0x1D9D0CB
_GEOMETRY_HEAD = struct.Struct(">IHH4i4iiBB")


def first_geometry(available: QRect, minimum: QSize | None = None) -> QRect:
    """The main window's first size and place on a screen whose free area is ``available``: most of it, capped,
    never under the window's ``minimum`` unless the screen is smaller still, centred, with room for a title bar."""
    minimum = minimum or QSize(0, 0)
    room = QSize(available.width(), max(1, available.height() - TITLE_BAR))
    width = min(int(available.width() * FIRST_SHARE), FIRST_MAX.width())
    height = min(int(room.height() * FIRST_SHARE), FIRST_MAX.height())
    size = QSize(min(max(width, minimum.width()), room.width()), min(max(height, minimum.height()), room.height()))
    left = available.x() + (available.width() - size.width()) // 2
    top = available.y() + TITLE_BAR + (room.height() - size.height()) // 2
    return QRect(left, top, size.width(), size.height())


def saved_normal_geometry(saved: QByteArray | bytes) -> tuple[QRect, bool] | None:
    """The unmaximised rectangle (frame included) and whether it was maximised, from a ``saveGeometry()`` record;
    None when the bytes are not one (damaged, or a format this code does not know)."""
    data = bytes(saved)
    if len(data) < _GEOMETRY_HEAD.size:
        return None
    magic, major, _minor, *rest = _GEOMETRY_HEAD.unpack_from(data)
    if magic != _GEOMETRY_MAGIC or major not in (2, 3):
        return None
    frame = QRect()
    frame.setCoords(*rest[0:4])
    normal = QRect()
    normal.setCoords(*rest[4:8])
    maximised = bool(rest[9])
    if normal.isEmpty():
        return None
    if not maximised:  # the title bar and borders the frame adds around the normal rectangle
        normal = normal.marginsAdded(_frame_margins(frame, normal))
    return normal, maximised


def _frame_margins(frame: QRect, inner: QRect) -> QMargins:
    if not frame.contains(inner):
        return QMargins(0, 0, 0, 0)
    return QMargins(inner.left() - frame.left(), inner.top() - frame.top(), frame.right() - inner.right(),
                    frame.bottom() - inner.bottom())


def saved_geometry_fits(saved: QByteArray | bytes, available: QRect) -> bool:
    """Whether a remembered window still fits a screen with this free area (a window saved on a big monitor is
    not squeezed onto a laptop: the laptop gets a first size of its own)."""
    found = saved_normal_geometry(saved)
    if found is None:
        return False
    normal, _maximised = found
    return normal.width() <= available.width() and normal.height() <= available.height()


def fitted_size(preferred: QSize, available: QRect, share: float = 0.95) -> QSize:
    """A dialog's size: what it would like, no more than ``share`` of the screen's free area (less a title bar)."""
    return QSize(min(preferred.width(), int(available.width() * share)),
                 min(preferred.height(), int((available.height() - TITLE_BAR) * share)))


def available_area(widget: QWidget | None = None, at: QPoint | None = None) -> QRect:
    """The free area (no panels or docks) of the screen holding the point ``at`` (where a remembered window would
    land, maybe on a second monitor), else of the screen the widget is on, else of the primary screen."""
    screen = QGuiApplication.screenAt(at) if at is not None else None
    screen = screen or (widget.screen() if widget is not None else None) or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else QRect(0, 0, 1024, 700)


def fit_dialog(dialog: QWidget, preferred: QSize) -> None:
    """Size a dialog as it would like, but never past the screen (its layout's minimum still wins)."""
    size = fitted_size(preferred, available_area(dialog.parentWidget() or dialog))
    minimum = dialog.minimumSizeHint()
    dialog.resize(max(size.width(), minimum.width()), max(size.height(), minimum.height()))


# -- the main window -----------------------------------------------------------------------------------------------

def restore_window(window: QMainWindow, settings: QSettings) -> None:
    """The size, place, toolbars and docks the user left, where they still fit this screen; else a first size."""
    saved = WINDOW_GEOMETRY.read(settings)
    found = saved_normal_geometry(saved) if saved is not None else None
    if found is None or not saved_geometry_fits(saved, available_area(window, found[0].center())) or \
            not window.restoreGeometry(saved):
        window.setGeometry(first_geometry(available_area(window), window.minimumSizeHint()))
    state = WINDOW_STATE.read(settings)
    if state is not None:
        window.restoreState(state)


def save_window(window: QMainWindow, settings: QSettings) -> None:
    WINDOW_GEOMETRY.write(settings, window.saveGeometry())
    WINDOW_STATE.write(settings, window.saveState())


class MapBesideGrid(QObject):
    """The collection map docks at the window's right, beside the grid, so its lasso never covers the photos it
    selects. Where the window is too narrow for the sidebar, the grid, the photo pane and the map, the photo pane
    makes room while the map is docked (and comes back when the map closes or the window grows)."""

    MAP_WIDTH = 380  # the map's width when it first docks, and what a window must spare for it next to the pane

    def __init__(self, window: QMainWindow, dock: QDockWidget, pane: QWidget, others: list[QWidget]) -> None:
        super().__init__(window)
        self.window, self.dock, self.pane, self.others = window, dock, pane, others
        self._placed = False
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.setMinimumWidth(260)
        dock.hide()
        dock.visibilityChanged.connect(self.update)
        dock.topLevelChanged.connect(self.update)
        dock.dockLocationChanged.connect(self.update)
        window.installEventFilter(self)

    def wide_enough(self) -> bool:
        """Room for every pane at its minimum, the map at its first width, and the splitter's handles."""
        needed = sum(widget.minimumWidth() for widget in (*self.others, self.pane)) + self.MAP_WIDTH + 40
        return self.window.width() >= needed

    def beside_panes(self) -> bool:
        """Docked at the left or right (the user may float it, or dock it under the panes, where it takes height)."""
        return not self.dock.isFloating() and self.window.dockWidgetArea(self.dock) in (
            Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea)

    def map_docked(self) -> bool:
        return not self.dock.isHidden() and self.beside_panes()

    def update(self, *_args) -> None:
        if isValid(self.window) and isValid(self.pane):  # not while the window is being destroyed
            self._show_pane(not self.map_docked() or self.wide_enough())

    def show_map(self) -> None:
        """Dock the map (the first time, at a useful width) after the pane made room for it."""
        if self.beside_panes():
            self._show_pane(self.wide_enough())
        self.dock.show()
        if not self._placed and not self.dock.isFloating():
            self._placed = True
            self.window.resizeDocks([self.dock], [self.MAP_WIDTH], Qt.Orientation.Horizontal)
        self.update()

    def give_back_pane(self) -> None:
        """The photo pane is asked for (Ctrl+T, the status bar's training line): where the map took its place, the
        map closes (View ▸ Collection Map brings it back) rather than hide training from the user."""
        if self.pane.isHidden() and self.map_docked():
            self.dock.hide()

    def _show_pane(self, visible: bool) -> None:
        if visible != self.pane.isHidden():
            return
        self.pane.setVisible(visible)
        # The window's minimum width recomputed at once: a dock shown next must not widen the window.
        self.pane.parentWidget().updateGeometry()
        self.window.layout().invalidate()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Resize:
            self.update()
        return False
