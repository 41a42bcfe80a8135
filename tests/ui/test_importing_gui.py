"""The GUI's import tells the user, in one sentence, about a broken thumbnail cache and a busy project."""

from __future__ import annotations

from pathlib import Path

import imagemakers as mk

from desktop.io.locks import exclusive_lock


def _photos(root: Path, count: int) -> Path:
    for index in range(count):
        mk.write_jpeg(root / f"{index}.jpg", 40, 30, seed=index)
    return root


def test_a_broken_cache_imports_the_photos_and_says_so(main_window, qtbot, tmp_path: Path) -> None:
    project = main_window.context.project
    project.thumbnails.directory.write_bytes(b"in the way")
    messages: list[str] = []
    main_window.controllers.importer.message.connect(messages.append)
    with qtbot.waitSignal(main_window.controllers.importer.finished, timeout=20000) as done:
        main_window.controllers.importer.add_folders([_photos(tmp_path / "photos", 3)])
    assert (done.args[0].imported, done.args[0].broken) == (3, 0)
    assert messages[-1].startswith("photos: 3 photos imported. The thumbnail cache ")
    assert messages[-1].endswith("a re-scan makes them once the cache works again.")


def test_an_import_elsewhere_makes_this_one_say_busy(main_window, qtbot, tmp_path: Path) -> None:
    project = main_window.context.project
    messages: list[str] = []
    main_window.controllers.importer.message.connect(messages.append)
    with exclusive_lock(project.import_lock_path, "held by another process"):
        main_window.controllers.importer.add_folders([_photos(tmp_path / "photos", 1)])
        qtbot.waitUntil(lambda: not main_window.controllers.importer.busy, timeout=20000)
    assert messages == ["Import failed: Another Pigeonhole is importing into this project; try again when it has "
                        "finished."]
