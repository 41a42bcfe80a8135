"""GUI test fixtures: offscreen Qt, isolated QSettings, a main window factory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, Qt


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path):
    """Each test gets its own settings file, so no test sees another's (or the user's) last project."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


@pytest.fixture(autouse=True)
def no_key_held() -> Iterator[None]:
    """Each test starts with no modifier key held. Qt takes the modifiers from the last key event: a Ctrl+Z whose
    release a shortcut swallowed left Ctrl "held", and the next test's setCurrentIndex extended the selection
    instead of replacing it (test_predicting_gui's Label next, after test_labelling_gui)."""
    yield
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QWidget

    if QApplication.instance() is not None:
        target = QWidget()
        QTest.keyRelease(target, Qt.Key.Key_Control, Qt.KeyboardModifier.NoModifier)
        target.deleteLater()


@pytest.fixture
def main_window(qtbot, tmp_path: Path):
    """A main window with a fresh project open; closed (and its workers stopped) after the test."""
    from desktop.ui.app import make_application
    from desktop.ui.main_window import MainWindow

    make_application()
    window = MainWindow(QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat))
    window.controllers.importer.ask_about_subfolders = False
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    assert window.open_project_at(tmp_path / "project.pigeonhole")
    yield window
    window.close()
