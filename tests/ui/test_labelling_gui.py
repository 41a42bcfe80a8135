"""Import a folder through the GUI, label by key presses, undo and redo, and check the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from desktop.db.models import Image, ImageClass, Label

pytestmark = pytest.mark.gui


def write_photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        gradient = np.linspace(0, 255, 96, dtype=np.float32)
        image = np.stack([np.add.outer(gradient, gradient) / 2] * 3, axis=-1)
        image = np.clip(image + rng.normal(0, 12, image.shape) + i * 9, 0, 255).astype(np.uint8)
        path = folder / f"photo_{i:02d}.jpg"
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


def import_and_wait(qtbot, window, folder: Path) -> None:
    with qtbot.waitSignal(window.controllers.importer.finished, timeout=30_000) as blocker:
        window.controllers.importer.add_folders([folder])
    assert blocker.args[0].imported > 0
    qtbot.waitUntil(lambda: not window.controllers.importer.busy, timeout=10_000)


def labels_in_db(window) -> dict[str, str]:
    with window.context.project.sessions() as session:
        rows = session.execute(
            select(Image.rel_path, ImageClass.name)
            .join(Label, Label.image_id == Image.id)
            .join(ImageClass, ImageClass.id == Label.class_id)
        ).all()
    return dict(rows)


def press(qtbot, window, key) -> None:
    qtbot.keyClick(window.grid, key)
    qtbot.wait(5)


def test_import_label_by_keys_undo_redo(qtbot, main_window, tmp_path):
    window = main_window
    write_photos(tmp_path / "photos", 8)
    import_and_wait(qtbot, window, tmp_path / "photos")
    assert window.context.images.rowCount() == 8
    assert window.sidebar.filters.entries[1].count == 8  # all unlabelled

    window.controllers.class_actions.add("cat")
    window.controllers.class_actions.add("dog")
    assert [c.shortcut for c in window.context.classes.classes] == ["1", "2"]

    window.activateWindow()
    window.grid.setFocus()
    window.controllers.labelling.select_row(0)
    for key in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_1, Qt.Key.Key_1, Qt.Key.Key_2):
        press(qtbot, window, key)
    assert labels_in_db(window) == {
        "photo_00.jpg": "cat", "photo_01.jpg": "dog", "photo_02.jpg": "cat",
        "photo_03.jpg": "cat", "photo_04.jpg": "dog",
    }
    # Auto-advance left the cursor on the next unlabelled photo.
    assert window.grid.currentIndex().row() == 5

    press(qtbot, window, Qt.Key.Key_Z)
    assert len(labels_in_db(window)) == 5  # a bare Z is not undo
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert labels_in_db(window) == {"photo_00.jpg": "cat", "photo_01.jpg": "dog", "photo_02.jpg": "cat"}

    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert labels_in_db(window)["photo_03.jpg"] == "cat"

    # Counts in the sidebar follow (after the coalescing timer).
    qtbot.waitUntil(lambda: window.sidebar.filters.entries[1].count == 4, timeout=3000)
    assert {c.name: c.count for c in window.context.classes.classes} == {"cat": 3, "dog": 1}


def test_multi_select_labels_all_and_clear(qtbot, main_window, tmp_path):
    window = main_window
    write_photos(tmp_path / "photos", 6)
    import_and_wait(qtbot, window, tmp_path / "photos")
    window.controllers.class_actions.add("receipt")
    window.activateWindow()
    window.grid.setFocus()
    window.grid.selectAll()
    press(qtbot, window, Qt.Key.Key_1)
    assert len(labels_in_db(window)) == 6
    assert window.controllers.labelling.undo_stack.undoText() == "Label 6 photos as receipt"

    window.controllers.labelling.select_row(2)
    press(qtbot, window, Qt.Key.Key_0)
    assert "photo_02.jpg" not in labels_in_db(window)
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert labels_in_db(window)["photo_02.jpg"] == "receipt"


def test_class_folders_import_and_filters(qtbot, main_window, tmp_path):
    window = main_window
    write_photos(tmp_path / "pets" / "cat", 3)
    write_photos(tmp_path / "pets" / "dog", 2)
    import_and_wait(qtbot, window, tmp_path / "pets")
    assert {c.name: c.count for c in window.context.classes.classes} == {"cat": 3, "dog": 2}

    from desktop.core.browse import ImageFilter, Show

    dog = next(c for c in window.context.classes.classes if c.name == "dog")
    window.sidebar.filter_selected.emit(ImageFilter(Show.CLASS, class_id=dog.id))
    assert window.context.images.rowCount() == 2
    window.sidebar.filter_selected.emit(ImageFilter(Show.UNLABELLED))
    assert window.context.images.rowCount() == 0
    assert window.grid.empty_title == "Everything is labelled"


def test_broken_files_are_listed_not_fatal(qtbot, main_window, tmp_path):
    window = main_window
    folder = tmp_path / "mixed"
    write_photos(folder, 2)
    (folder / "notes.jpg").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    import_and_wait(qtbot, window, folder)
    assert window.sidebar.filters.entries[2].count == 2
    from desktop.core.browse import ImageFilter, Show

    window.sidebar.filter_selected.emit(ImageFilter(Show.BROKEN))
    rows = [window.context.images.row_at(i) for i in range(window.context.images.rowCount())]
    assert sorted(r.name for r in rows) == ["empty.png", "notes.jpg"]
    assert all(r.error for r in rows)


def test_window_opens_without_importing_torch(tmp_path):
    """The window must appear without paying for torch's multi-second import (fresh interpreter)."""
    script = (
        "import sys\n"
        "from PySide6.QtCore import QSettings\n"
        "from desktop.ui.app import make_application\n"
        "from desktop.ui.main_window import MainWindow\n"
        "app = make_application()\n"
        f"w = MainWindow(QSettings({str(tmp_path / 's.ini')!r}, QSettings.Format.IniFormat)); w.show()\n"
        f"w.open_project_at(__import__('pathlib').Path({str(tmp_path / 'p')!r}))\n"
        "app.processEvents()\n"
        "print('torch' in sys.modules)\n"
        # Closed as a user closes it: the workers the project started (the last Check Photos scan, thumbnails)
        # are stopped, not destroyed running at exit.
        "w.close()\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_thumbnails_load_in_background(qtbot, main_window, tmp_path):
    window = main_window
    write_photos(tmp_path / "photos", 4)
    import_and_wait(qtbot, window, tmp_path / "photos")
    from desktop.ui.models.images import Role

    index = window.context.images.index(0)
    qtbot.waitUntil(lambda: index.data(Role.THUMBNAIL) is not None, timeout=5000)
    image = index.data(Role.THUMBNAIL)
    assert max(image.width(), image.height()) == 96  # small photos are not enlarged
