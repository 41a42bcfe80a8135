"""Two imports of one folder number it alike (issue #27): results are stored in the folder's order, not in the
order the import's threads happen to finish, so image ids and the classes subfolder labels create follow it."""

from __future__ import annotations

import time

from sqlalchemy import select

from desktop.core import importer
from desktop.core.importer import import_folder
from desktop.db.models import Image, ImageClass


def test_ids_and_classes_follow_the_folder_not_the_threads(project, photo_folder, monkeypatch):
    root = photo_folder({"ants": 1, "bees": 3, "cats": 3})
    process = importer._process

    def first_file_finishes_last(folder, found, thumbnails):
        if found.rel_path.startswith("ants/"):
            time.sleep(0.5)
        return process(folder, found, thumbnails)

    monkeypatch.setattr(importer, "_process", first_file_finishes_last)
    monkeypatch.setattr(importer, "COMMIT_EVERY", 2)  # batches: a late file would land in a later one
    summary = import_folder(project, root, labels_from_subfolders=True, workers=3)
    assert summary.imported == summary.labelled == 7
    with project.sessions() as session:
        paths = [str(path) for path in session.scalars(select(Image.rel_path).order_by(Image.id))]
        classes = list(session.scalars(select(ImageClass.name).order_by(ImageClass.position)))
    assert paths == [f"{name}/{index:02d}.jpg" for name, count in (("ants", 1), ("bees", 3), ("cats", 3))
                     for index in range(count)]
    assert classes == ["ants", "bees", "cats"]
