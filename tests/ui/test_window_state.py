"""Drag-and-drop of folders, remembered window state and last project, class management from the GUI."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QRect, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from test_labelling_gui import write_photos

from desktop.ui.app import project_to_open

pytestmark = pytest.mark.gui


def test_dropping_a_folder_imports_it(qtbot, main_window, tmp_path):
    write_photos(tmp_path / "dropped", 3)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "dropped"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(main_window.controllers.importer.finished, timeout=30_000):
        main_window.dropEvent(event)
    assert main_window.context.images.rowCount() == 3


def test_last_project_and_geometry_are_remembered(qtbot, tmp_path, monkeypatch):
    from desktop.ui import window_geometry
    from desktop.ui.app import make_application
    from desktop.ui.main_window import MainWindow

    make_application()
    # A screen that holds the window (the offscreen one is 800 px wide, under the window's minimum width).
    monkeypatch.setattr(window_geometry, "available_area", lambda *_where: QRect(0, 0, 1400, 900))
    settings_file = str(tmp_path / "remember.ini")
    first = MainWindow(QSettings(settings_file, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.show()
    first.resize(700, 560)  # its minimum width wins: restoreGeometry keeps it on the 800-px offscreen screen
    size = (first.width(), first.height())
    assert size != (1200, 800)
    first.grid.zoom_by(48)
    assert first.open_project_at(tmp_path / "mine.pigeonhole")
    first.close()

    settings = QSettings(settings_file, QSettings.Format.IniFormat)
    assert project_to_open(None, settings) == Path(tmp_path / "mine.pigeonhole").resolve()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    second.show()
    assert (second.width(), second.height()) == size
    assert second.grid.preferred_tile == first.grid.preferred_tile
    second.close()


def test_class_rename_merge_delete_from_gui(qtbot, main_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QInputDialog, QMessageBox

    window = main_window
    write_photos(tmp_path / "pets" / "cat", 2)
    write_photos(tmp_path / "pets" / "kitty", 1)
    with qtbot.waitSignal(window.controllers.importer.finished, timeout=30_000):
        window.controllers.importer.add_folders([tmp_path / "pets"])
    classes = {c.name: c for c in window.context.classes.classes}
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Cat", True))
    window.controllers.class_actions.rename(classes["cat"])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    classes = {c.name: c for c in window.context.classes.classes}
    window.controllers.class_actions.merge(classes["kitty"], classes["Cat"])
    assert {c.name: c.count for c in window.context.classes.classes} == {"Cat": 3}
    window.controllers.class_actions.delete(window.context.classes.classes[0])
    assert window.context.classes.rowCount() == 0
    assert window.sidebar.filters.entries[1].count == 3  # all unlabelled again; files untouched
    assert all(p.exists() for p in (tmp_path / "pets").rglob("*.jpg"))


def test_a_short_window_scrolls_the_sidebar_never_one_squeezed_list(qtbot, main_window):
    """With Check Photos' findings and a dozen classes, a 1024 x 600 window used to squeeze the class list into
    two rows with scroll bars of its own (and a horizontal one). Now every list is as tall as its rows and the
    sidebar scrolls as a whole."""
    from desktop.core.classes import add_class
    from desktop.core.health import EXPLANATIONS, KINDS
    from desktop.ui.health import FindingView
    from desktop.ui.widgets.sidebar import SidebarDelegate

    for name in [f"class {i:02d} with a long name" for i in range(12)]:
        add_class(main_window.context.project, name)
    main_window.context.refresh_classes()
    main_window.sidebar.set_findings([FindingView(kind, title, 3, "", False, EXPLANATIONS[kind])
                                      for kind, title in KINDS.items()])
    main_window.resize(1024, 600)
    sidebar = main_window.sidebar
    qtbot.waitUntil(lambda: sidebar.scroll_area.verticalScrollBar().maximum() > 0)
    for view in (sidebar.filter_view, sidebar.finding_view, sidebar.class_view, sidebar.folder_view):
        assert view.height() == SidebarDelegate.ROW_HEIGHT * view.model().rowCount() + 4
        assert not view.verticalScrollBar().isVisible() and not view.horizontalScrollBar().isVisible()
    assert sidebar.class_view.model().rowCount() == 12
    assert not sidebar.scroll_area.horizontalScrollBar().isVisible()
    sidebar.set_findings([])  # a new project: the Check section goes, the lists close up
    assert not sidebar.finding_view.isVisibleTo(sidebar) and sidebar.finding_view.height() == 4


def test_shrinking_the_window_leaves_the_grid_two_columns_wide(qtbot, main_window):
    """The grid took every pixel of a resize, down to one column of 300 px at 1024 wide; the panes give way
    once it is at its minimum."""
    from desktop.ui.main_window import GRID_MIN_WIDTH

    main_window.resize(1400, 900)
    qtbot.wait(50)
    main_window.resize(1024, 700)
    qtbot.waitUntil(lambda: main_window.splitter.sizes()[0] + main_window.splitter.sizes()[2] < 1024 - GRID_MIN_WIDTH)
    assert main_window.splitter.sizes()[1] >= GRID_MIN_WIDTH


def test_a_project_opened_after_the_window_closed_starts_no_work(qtbot, main_window, tmp_path):
    """Closing the window at once, before its first project finished opening (app.run_app opens it on the next
    turn of the event loop), left the last scan's restore running as the app quit: Qt aborted ("QThread:
    Destroyed while thread is still running")."""
    from desktop.ui.workers import Worker

    started: list[Worker] = []
    main_window.controllers.health.restoring.start = lambda job, **kw: started.append(job)  # what the open would start
    main_window.close()
    main_window.open_project_at(tmp_path / "late.pigeonhole")
    assert started == []
    assert main_window.context.project.path.name == "project.pigeonhole"  # the one open before, now closed
