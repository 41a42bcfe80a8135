"""The Sort dialog's preview shows the files that travel with the photos: a count in the summary, and each
companion's row marked as going with its photo; the Sort button counts photos, not files."""

from __future__ import annotations

from pathlib import Path

import imagemakers as mk
import pytest
from PySide6.QtCore import Qt

from desktop.ui.sorting.models import SortPreviewModel

pytestmark = pytest.mark.gui


def test_the_preview_counts_sidecars_and_twins_once(main_window, qtbot, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for index in range(3):
        mk.write_jpeg(root / f"IMG_{index}.JPG", 24, 16, seed=index)
    mk.write(root / "IMG_0.CR2", b"raw bytes")
    mk.write(root / "IMG_0.CR2.xmp", b"<x:xmpmeta/>")
    mk.write(root / "IMG_1.xmp", b"<x:xmpmeta/>")
    with qtbot.waitSignal(main_window.controllers.importer.finished, timeout=30_000):
        main_window.controllers.importer.add_folders([root])
    qtbot.waitUntil(lambda: not main_window.controllers.importer.busy, timeout=10_000)

    dialog = main_window.controllers.sorting.show_dialog()
    dialog.destination.setText(str(tmp_path / "sorted"))
    qtbot.waitUntil(lambda: not dialog.preview_pending and dialog._shown_generation == dialog._generation,
                    timeout=10_000)

    assert "<b>3 photos</b> into 1 folder + 3 companion files with them" in dialog.counts_summary.text()
    assert "3 photos" in dialog.sort_button.text().lower()
    model = dialog.preview
    photo, confidence = SortPreviewModel.PHOTO, SortPreviewModel.CONFIDENCE
    rows = {model.data(model.index(row, photo)): model.data(model.index(row, confidence))
            for row in range(model.rowCount())}
    assert rows["IMG_0.CR2"] == rows["IMG_0.CR2.xmp"] == rows["IMG_1.xmp"] == "with photo"
    assert model.data(model.index(1, SortPreviewModel.CONFIDENCE), Qt.ItemDataRole.ToolTipRole).startswith("A sidecar")
