"""Keywords in the GUI: the import says how many photos carry keywords, the preview shows a photo's, and
Classes ▸ Classes from Keywords… labels the unlabelled photos from the ticked ones in one undoable step."""

from __future__ import annotations

from pathlib import Path

import imagemakers as mk
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QMessageBox
from sqlalchemy import select
from xmpmakers import jpeg_with, xmp_packet

from desktop.db.models import Image, ImageClass, Label
from desktop.ui import keywords as keywords_ui
from desktop.ui.models.images import Role


def _labels(window) -> dict[str, str]:
    with window.context.project.sessions() as session:
        return dict(session.execute(select(Image.rel_path, ImageClass.name).join(Label, Label.image_id == Image.id)
                                    .join(ImageClass, ImageClass.id == Label.class_id)).all())


def test_keywords_from_import_to_preview_to_labels_and_undo(main_window, qtbot, tmp_path: Path,
                                                            monkeypatch) -> None:
    window = main_window
    root = tmp_path / "photos"
    jpeg_with(root / "a.jpg", packet=xmp_packet(["Animals", "Birds"], ["Animals|Birds"]))
    mk.write_jpeg(root / "b.jpg", 24, 16, seed=1)
    mk.write(root / "b.jpg.xmp", xmp_packet(hierarchical=["Animals|Mammals"]))
    mk.write_jpeg(root / "c.jpg", 24, 16, seed=2)
    messages: list[str] = []
    window.controllers.importer.message.connect(messages.append)
    with qtbot.waitSignal(window.controllers.importer.finished, timeout=30_000):
        window.controllers.importer.add_folders([root])
    qtbot.waitUntil(lambda: not window.controllers.importer.busy, timeout=10_000)
    assert "2 with keywords (Classes ▸ Classes from Keywords…)" in messages[-1]

    rows = {window.context.images.index(row).data(Role.ROW).rel_path: row
            for row in range(window.context.images.rowCount())}
    window.controllers.labelling.select_row(rows["b.jpg"])
    assert window.preview.keywords.text() == "Keywords: Animals › Mammals" and not window.preview.keywords.isHidden()
    window.controllers.labelling.select_row(rows["c.jpg"])
    assert window.preview.keywords.isHidden()

    def tick_mammals(dialog: QDialog) -> int:
        assert [dialog.list.item(i).text() for i in range(dialog.list.count())] == [
            "Animals › Birds  (1 photo)", "Animals › Mammals  (1 photo)"]
        dialog.list.item(1).setCheckState(Qt.CheckState.Checked)
        return QDialog.DialogCode.Accepted

    told: list[str] = []
    monkeypatch.setattr(keywords_ui.KeywordsDialog, "exec", tick_mammals)
    monkeypatch.setattr(QMessageBox, "information", lambda _parent, _title, text: told.append(text))
    result = keywords_ui.classes_from_keywords(window.context, window.controllers.labelling.undo_stack, window)

    assert result is not None and told == ["1 photo labelled from keywords into 1 class."]
    assert _labels(window) == {"b.jpg": "Mammals"}
    assert "Mammals" in [c.name for c in window.context.classes.classes]
    window.controllers.labelling.undo_stack.undo()
    assert _labels(window) == {}
    window.controllers.labelling.undo_stack.redo()
    assert _labels(window) == {"b.jpg": "Mammals"}
