"""Classes ▸ Write Classes to Sidecars…: the plan is shown before anything is written, the photos' labels go into
their sidecars (never the photos), and Undo Written Keywords puts the sidecars back."""

from __future__ import annotations

from pathlib import Path

import imagemakers as mk
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import select

from desktop.core.classes import add_class
from desktop.core.labels import set_label
from desktop.db.models import Image
from desktop.io.xmp import keywords_of_sidecar


def test_write_classes_to_sidecars_and_undo(main_window, qtbot, tmp_path: Path, monkeypatch) -> None:
    window = main_window
    root = tmp_path / "photos"
    for index in range(3):
        mk.write_jpeg(root / f"{index}.jpg", 24, 16, seed=index)
    with qtbot.waitSignal(window.controllers.importer.finished, timeout=30_000):
        window.controllers.importer.add_folders([root])
    qtbot.waitUntil(lambda: not window.controllers.importer.busy, timeout=10_000)
    project = window.context.project
    with project.sessions() as session:
        ids = dict(session.execute(select(Image.rel_path, Image.id)).all())
    set_label(project, [ids["0.jpg"], ids["1.jpg"]], add_class(project, "pigeons").id)
    photos = {path.name: path.read_bytes() for path in root.iterdir()}
    asked: list[str] = []
    told: list[str] = []
    answer = QMessageBox.StandardButton.Cancel

    def question(_parent, _title, text, *_args):
        # A real question box runs its own event loop: the planning worker finishes while it is open.
        qtbot.waitUntil(lambda: not window.controllers.tagging.task.busy, timeout=10_000)
        asked.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text: told.append(text))

    with qtbot.waitSignal(window.controllers.tagging.finished, timeout=10_000):
        window.controllers.tagging.write()
    assert "Write the class of 2 photos" in asked[-1] and "(pigeons 2)" in asked[-1]
    assert sorted(path.name for path in root.iterdir()) == ["0.jpg", "1.jpg", "2.jpg"]  # cancelled: nothing written

    answer = QMessageBox.StandardButton.Yes
    qtbot.waitUntil(lambda: not window.controllers.tagging.task.busy, timeout=10_000)
    with qtbot.waitSignal(window.controllers.tagging.finished, timeout=10_000):
        window.controllers.tagging.write()
    assert told[-1] == "2 sidecars written, 0 already had the keyword."
    assert keywords_of_sidecar(root / "0.jpg.xmp") == [("Pigeonhole", "pigeons")]
    assert all((root / name).read_bytes() == data for name, data in photos.items())

    qtbot.waitUntil(lambda: not window.controllers.tagging.task.busy, timeout=10_000)
    with qtbot.waitSignal(window.controllers.tagging.finished, timeout=10_000):
        window.controllers.tagging.undo()
    assert told[-1] == "2 sidecars restored as they were."
    assert {path.name: path.read_bytes() for path in root.iterdir()} == photos


def test_write_and_undo_wait_for_a_running_keyword_job(qtbot, monkeypatch) -> None:
    """While keywords are being written, Write and Undo start nothing and say why; with no project, nothing."""
    from types import SimpleNamespace

    from PySide6.QtWidgets import QWidget

    from desktop.ui.tagging import TaggingController
    from desktop.ui.workers import WorkerSlot

    parent = QWidget()
    qtbot.addWidget(parent)
    context = SimpleNamespace(project=object())
    controller = TaggingController(context, parent)
    started: list[object] = []
    said: list[str] = []
    controller.message.connect(said.append)
    monkeypatch.setattr(WorkerSlot, "busy", property(lambda _self: True))
    monkeypatch.setattr(controller.task, "start", lambda *args, **kwargs: started.append(args))

    controller.write()
    controller.undo()
    assert said == ["Keywords are being written already.",
                    "Keywords are being written; undo them once that has finished."]
    context.project = None
    controller.write()
    controller.undo()
    assert len(said) == 2 and not started
