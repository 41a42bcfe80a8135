"""Application start-up: the window is shown before anything slow (torch is never imported here)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from desktop import APP_NAME, __version__
from desktop.paths import default_project_path
from desktop.resources import resource_path
from desktop.ui.main_window import MainWindow
from desktop.ui.settings import LAST_PROJECT
from desktop.ui.style import apply_style


def make_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("pigeonhole")
    app.setWindowIcon(QIcon(str(resource_path("icons", "pigeonhole.svg"))))
    apply_style(app)
    return app


def project_to_open(requested: Path | None, settings: QSettings) -> Path:
    """The project named on the command line, else the last one used, else the default project."""
    if requested is not None:
        return requested
    last = LAST_PROJECT.read(settings)
    if last is not None and last.is_dir():
        return last
    return default_project_path()


def run_app(project: Path | None = None) -> int:
    app = make_application()
    settings = QSettings()
    window = MainWindow(settings)
    window.show()
    # Open the project after the first paint so the window appears at once.
    QTimer.singleShot(0, lambda: window.open_project_at(project_to_open(project, settings)))
    return app.exec()
