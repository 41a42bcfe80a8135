"""Screens that fit (issue #21): the main window's first size comes from the screen, a remembered size is used only
where it fits, every dialog fits a 1024 x 700 screen, the sort dialog keeps its buttons in view with a long note,
and the collection map docks beside the grid."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QSettings, QSize, Qt, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from desktop.ui import window_geometry
from desktop.ui.window_geometry import TITLE_BAR, first_geometry, saved_geometry_fits

pytestmark = pytest.mark.gui

SMALL = QRect(0, 0, 1024, 700)
ROOM = QSize(SMALL.width(), SMALL.height() - TITLE_BAR)  # what a window and its title bar may take


def on_screen(monkeypatch, area: QRect) -> None:
    """Windows and dialogs size themselves for a screen with this free area (the offscreen one is 800 x 800)."""
    monkeypatch.setattr(window_geometry, "available_area", lambda *_where: QRect(area))


def fits(size: QSize, room: QSize = ROOM) -> bool:
    return size.width() <= room.width() and size.height() <= room.height()


@pytest.mark.parametrize(("screen", "expected"), [
    (QRect(0, 0, 1024, 700), QSize(921, 601)),
    (QRect(0, 0, 1400, 900), QSize(1260, 781)),
    (QRect(0, 0, 2560, 1440), QSize(1600, 1000)),
])
def test_the_first_size_is_most_of_the_screen_capped(screen, expected):
    first = first_geometry(screen)
    assert first.size() == expected
    assert screen.contains(first) and first.top() >= screen.top() + TITLE_BAR  # the title bar is on screen too


def test_the_first_size_keeps_the_window_minimum_unless_the_screen_is_smaller():
    panel = QRect(0, 28, 1024, 672)  # a 1024 x 700 screen under a top panel
    first = first_geometry(panel, QSize(980, 478))
    assert first.width() == 980 and panel.contains(first) and first.top() >= panel.top() + TITLE_BAR
    tiny = first_geometry(QRect(0, 0, 800, 600), QSize(918, 478))
    assert tiny.width() == 800 and QRect(0, 0, 800, 600).contains(tiny)


def _saved(frame: QRect, normal: QRect, maximised: bool) -> bytes:
    """A saveGeometry() record as Qt 6 writes it (version 3)."""
    import struct

    def corners(rect: QRect) -> tuple[int, int, int, int]:
        return rect.left(), rect.top(), rect.right(), rect.bottom()

    return struct.pack(">IHH4i4iiBBi4i", 0x1D9D0CB, 3, 0, *corners(frame), *corners(normal), 0, maximised, 0, 1920,
                       *corners(normal))


def test_a_remembered_size_fits_with_its_title_bar_and_a_maximised_one_by_its_normal_size():
    titled = QRect(10, 10, 1000, 690)  # 30 px of title bar above a 660 px window
    assert saved_geometry_fits(_saved(titled, QRect(10, 40, 1000, 660), False), SMALL)
    assert not saved_geometry_fits(_saved(titled.adjusted(0, 0, 0, 20), QRect(10, 40, 1000, 680), False), SMALL)
    maximised = _saved(QRect(0, 0, 1920, 1050), QRect(100, 100, 1200, 800), True)
    assert saved_geometry_fits(maximised, QRect(0, 0, 1400, 900)) and not saved_geometry_fits(maximised, SMALL)


def test_the_main_window_fits_a_small_screen_from_its_first_start(qtbot, tmp_path, monkeypatch):
    """It opened at 1400 x 860 on any screen: on 1024 x 700 the photo pane and the status bar were off it."""
    from desktop.ui.app import make_application
    from desktop.ui.main_window import MainWindow

    make_application()
    on_screen(monkeypatch, SMALL)
    window = MainWindow(QSettings(str(tmp_path / "first.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert fits(window.minimumSizeHint())
    assert fits(window.size()) and window.size() == first_geometry(SMALL, window.minimumSizeHint()).size()
    window.close()


def test_a_size_from_a_bigger_screen_is_not_restored_on_a_small_one(qtbot, tmp_path, monkeypatch):
    from desktop.ui.app import make_application
    from desktop.ui.main_window import MainWindow

    make_application()
    settings_file = str(tmp_path / "moved.ini")
    on_screen(monkeypatch, QRect(0, 0, 1920, 1080))
    big = MainWindow(QSettings(settings_file, QSettings.Format.IniFormat))
    qtbot.addWidget(big)
    big.show()
    big.resize(1500, 950)
    saved = big.saveGeometry()
    big.close()
    assert saved_geometry_fits(saved, QRect(0, 0, 1920, 1080)) and not saved_geometry_fits(saved, SMALL)
    assert not saved_geometry_fits(b"\x01\x02 not a saved window", SMALL)

    on_screen(monkeypatch, SMALL)  # the laptop, later
    small = MainWindow(QSettings(settings_file, QSettings.Format.IniFormat))
    qtbot.addWidget(small)
    assert fits(small.size())
    small.close()


def _modal_size(trigger) -> QSize:
    """The size of the modal box ``trigger`` opens (closed again at once)."""
    seen: list[QSize] = []

    def measure():
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(10, measure)
            return
        seen.append(QSize(max(box.width(), box.minimumSizeHint().width()),
                          max(box.height(), box.minimumSizeHint().height())))
        box.close()

    QTimer.singleShot(0, measure)
    trigger()
    return seen[0]


def test_every_dialog_fits_1024x700(qtbot, main_window, tmp_path, monkeypatch):
    """Each dialog's minimum and first size fit the screen (the sort dialog opened at 1060 x 703, F1's list was a
    972-px box whose OK button fell off it)."""
    from test_sort_dialog import make_sortable_project

    from desktop.ui.models_dialog import ModelsDialog
    from desktop.ui.near_duplicates_dialog import NearDuplicatesDialog
    from desktop.ui.shortcuts import ShortcutsDialog
    from desktop.ui.sorting import SortHistoryDialog

    on_screen(monkeypatch, SMALL)
    window = main_window
    models = ModelsDialog(window.context, window)  # before there is a model: no scoring worker (torch) to wait for
    make_sortable_project(window.context.project, tmp_path / "photos")
    window.context.refresh_all()
    assert fits(window.minimumSizeHint())

    sort_dialog = window.controllers.sorting.show_dialog()
    qtbot.waitUntil(lambda: not sort_dialog.preview_pending, timeout=10_000)
    history = SortHistoryDialog(window.controllers.sorting, window)
    shortcuts = ShortcutsDialog(window)
    near = NearDuplicatesDialog(window)  # Model ▸ Resolve Near Duplicates…
    dialogs: list[QWidget] = [sort_dialog, history, models, shortcuts, near]
    for dialog in dialogs:
        dialog.show()
        qtbot.waitExposed(dialog)
        assert fits(dialog.minimumSizeHint()), (dialog.windowTitle(), dialog.minimumSizeHint())
        assert fits(dialog.size()), (dialog.windowTitle(), dialog.size())
        qtbot.waitUntil(lambda dialog=dialog: crushed(dialog) == [], timeout=3000)
    for dialog in dialogs:
        dialog.close()

    assert fits(_modal_size(window.show_shortcuts))
    assert fits(_modal_size(window.show_about))
    cats = window.context.classes.classes[0]
    for ask in (window.controllers.class_actions.add, lambda: window.controllers.class_actions.recolour(cats),
                lambda: window.controllers.class_actions.delete(cats), lambda: window.controllers.sorting.undo(None)):
        assert fits(_modal_size(ask))  # closing each box answers no: nothing changes


def test_the_sort_dialog_keeps_its_buttons_with_a_long_note_and_the_threshold(qtbot, main_window, tmp_path,
                                                                              monkeypatch):
    """At 1024 x 700 its Close and Sort buttons were off the screen; with a long note the "Sort when" row was
    squeezed to a few pixels and the threshold's slider could not be used."""
    from test_sort_dialog import make_sortable_project

    from desktop.ui.widgets.note import set_note

    on_screen(monkeypatch, SMALL)
    window = main_window
    make_sortable_project(window.context.project, tmp_path / "photos")
    window.context.refresh_all()
    dialog = window.controllers.sorting.show_dialog()
    dialog.destination.setText(str(tmp_path / "sorted"))
    qtbot.waitUntil(lambda: not dialog.preview_pending and dialog.plan is not None, timeout=10_000)
    long_note = "<br><br>".join(["Model #1 keeps no held-out predictions to measure its precision by, so photos are "
                                 "sorted by the confidence threshold instead; label about 12 more photos of cats, "
                                 "dogs and birds, then train again to sort by precision."] * 6)
    set_note(dialog.notice, long_note, "warn")
    dialog.rule.setCurrentIndex(dialog.rule.findData(None))  # the advanced threshold, on a row of its own
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: dialog.options.threshold_row.isVisible())
    QApplication.processEvents()

    assert fits(dialog.size())
    inside = dialog.rect()
    for button in (dialog.sort_button, dialog.close_button):
        place = QRect(button.mapTo(dialog, button.rect().topLeft()), button.size())
        assert button.isVisible() and inside.contains(place), (button.text(), place, inside)
    for widget in (dialog.rule, dialog.threshold_slider, dialog.threshold_spin, dialog.photos, dialog.destination):
        assert widget.height() >= widget.sizeHint().height(), widget  # no row squeezed
    assert dialog.threshold_slider.width() >= 140
    assert dialog.notice.height() >= dialog.notice.heightForWidth(dialog.notice.width()) - 1  # it takes height
    scroll = dialog.options.parentWidget().parentWidget().parentWidget()  # the options column's scroll area
    assert scroll.verticalScrollBar().maximum() > 0  # the column scrolls instead of pushing the buttons away
    dialog.reject()


def test_the_map_docks_beside_the_grid(qtbot, main_window, monkeypatch):
    """The map opened as a floating window over the photos its lasso selects. Now it docks at the grid's right;
    on a narrow window the photo pane makes room while it is there."""
    window = main_window
    monkeypatch.setattr(window.controllers.collection_map, "compute", lambda: None)  # where it docks, not what it draws
    map_dock, pane = window.controllers.collection_map, window.side_tabs
    window.resize(1000, 640)
    window.show_collection_map()
    qtbot.waitUntil(lambda: map_dock.isVisible() and not pane.isVisible())
    assert not map_dock.isFloating()
    assert window.dockWidgetArea(map_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert window.width() <= 1024  # showing it never pushed the window past a small screen
    assert map_dock.geometry().left() >= window.grid.mapTo(window, window.grid.rect().topRight()).x()
    map_dock.close()
    qtbot.waitUntil(pane.isVisible)
    window.show_collection_map()
    qtbot.waitUntil(lambda: not pane.isVisible())
    window.show_training()  # Ctrl+T, or the status bar's training line: training is never hidden behind the map
    qtbot.waitUntil(lambda: pane.isVisible() and not map_dock.isVisible())
    assert window.side_tabs.currentWidget() is window.train_panel

    window.resize(1400, 860)
    window.show_collection_map()
    qtbot.waitUntil(map_dock.isVisible)
    assert pane.isVisible() and not map_dock.isFloating()  # wide enough for both


def test_the_map_and_its_place_are_remembered(qtbot, tmp_path: Path, monkeypatch):
    from desktop.ui.app import make_application
    from desktop.ui.collection_map import CollectionMapDock
    from desktop.ui.main_window import MainWindow

    make_application()
    on_screen(monkeypatch, QRect(0, 0, 1920, 1080))
    monkeypatch.setattr(CollectionMapDock, "compute", lambda self: None)
    settings_file = str(tmp_path / "map.ini")
    first = MainWindow(QSettings(settings_file, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.show()
    first.resize(1500, 900)
    first.show_collection_map()
    qtbot.waitUntil(first.controllers.collection_map.isVisible)
    first.close()

    second = MainWindow(QSettings(settings_file, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    second.show()
    qtbot.waitUntil(second.controllers.collection_map.isVisible)  # open again, docked where it was
    assert not second.controllers.collection_map.isFloating()
    assert second.dockWidgetArea(second.controllers.collection_map) == Qt.DockWidgetArea.RightDockWidgetArea
    second.close()


def crushed(top: QWidget) -> list[str]:
    """Visible controls shorter than their natural height (a wrapped label: than its text needs at its width)."""
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractSlider,
        QAbstractSpinBox,
        QComboBox,
        QLabel,
        QLineEdit,
    )

    found = []
    for widget in top.findChildren(QWidget):
        if not widget.isVisible() or not isinstance(widget, QAbstractButton | QAbstractSlider | QAbstractSpinBox
                                                    | QComboBox | QLabel | QLineEdit):
            continue
        if isinstance(widget.parentWidget(), QAbstractSpinBox | QComboBox):
            continue  # a spin box's own line edit is as tall as the box lets it be
        if isinstance(widget, QLabel) and (not widget.text() or (widget.pixmap() is not None and
                                                                 not widget.pixmap().isNull())):
            continue
        needed = (widget.heightForWidth(widget.width()) if widget.hasHeightForWidth() else
                  widget.minimumSizeHint().height() if isinstance(widget, QLabel) else widget.sizeHint().height())
        if widget.height() < needed - 1:
            found.append(f"{type(widget).__name__} {widget.objectName() or getattr(widget, 'text', lambda: '')()!r}"
                         f" {widget.height()} < {needed}")
    return found


@pytest.mark.parametrize("screen", [QRect(0, 0, 1024, 700), QRect(0, 0, 1400, 900)])
def test_nothing_is_crushed_on_a_small_or_a_large_screen(qtbot, tmp_path, monkeypatch, screen):
    """The goal of issue #21: no control squeezed below its natural height at 1024 x 700 or 1400 x 900, in the
    window (photo and Train tabs) and in the Sort dialog with the advanced threshold."""
    from test_sort_dialog import make_sortable_project

    from desktop.ui.app import make_application
    from desktop.ui.main_window import MainWindow
    from desktop.ui.shortcuts import ShortcutsDialog
    from desktop.ui.widgets.note import set_note

    make_application()
    on_screen(monkeypatch, screen)
    window = MainWindow(QSettings(str(tmp_path / "crushed.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    assert window.open_project_at(tmp_path / "project.pigeonhole")
    make_sortable_project(window.context.project, tmp_path / "photos")
    window.context.refresh_all()
    qtbot.waitExposed(window)
    assert crushed(window) == []
    window.show_training()
    QApplication.processEvents()
    assert crushed(window) == []

    dialog = window.controllers.sorting.show_dialog()
    dialog.rule.setCurrentIndex(dialog.rule.findData(None))
    qtbot.waitUntil(lambda: not dialog.preview_pending, timeout=10_000)
    qtbot.waitExposed(dialog)
    set_note(dialog.notice, "<br><br>".join(["A note long enough to need many lines in the options column, as the "
                                             "precision rule's advice does for several classes."] * 5), "warn")
    qtbot.waitUntil(lambda: crushed(dialog) == [], timeout=3000)  # once the preview's new text is laid out
    dialog.reject()
    shortcuts = ShortcutsDialog(window)
    shortcuts.show()
    qtbot.waitExposed(shortcuts)
    assert crushed(shortcuts) == []
    shortcuts.close()
    window.close()


def test_the_grid_takes_more_columns_when_the_window_grows(qtbot, main_window, tmp_path):
    """Maximising kept a two-column grid; the columns follow the width the grid is given."""
    from test_sort_dialog import make_sortable_project

    window = main_window
    make_sortable_project(window.context.project, tmp_path / "photos")
    window.context.refresh_all()
    images = window.context.images
    qtbot.waitUntil(lambda: images.rowCount() == 12, timeout=10_000)

    def columns() -> int:
        first = window.grid.visualRect(images.index(0)).top()
        return sum(1 for row in range(images.rowCount()) if window.grid.visualRect(images.index(row)).top() == first)

    window.resize(1024, 700)
    qtbot.waitUntil(lambda: columns() >= 2)
    narrow = columns()
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: columns() > narrow)
