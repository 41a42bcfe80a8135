"""desktop.core.folders: listing, re-linking a folder that moved on disk, removing a folder."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop.core import importer
from desktop.core.classes import add_class, list_classes
from desktop.core.folders import FolderError, list_folders, relink_folder, remove_folder
from desktop.core.importer import import_folder
from desktop.core.labels import set_label
from desktop.core.project import Project
from desktop.core.status import project_status
from desktop.db.models import Image


def _missing(project: Project) -> dict[str, bool]:
    with project.sessions() as session:
        return dict(session.execute(select(Image.rel_path, Image.missing)).all())


def test_relink_after_moving_the_folder(project: Project, photo_folder, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = photo_folder({"cats": 3, "dogs": 2})
    import_folder(project, root, labels_from_subfolders=True)
    [folder] = list_folders(project)
    assert (folder.root, folder.images, folder.available, folder.name) == (root.resolve(), 5, True, "photos")

    moved = tmp_path / "external drive" / "Photos 2024"
    moved.parent.mkdir()
    shutil.move(root, moved)
    (moved / "dogs" / "01.jpg").unlink()  # lost on the way
    [folder] = list_folders(project)
    assert not folder.available

    found = relink_folder(project, folder.id, moved)
    assert found == 4
    [folder] = list_folders(project)
    assert (folder.root, folder.available, folder.images) == (moved.resolve(), True, 5)
    assert _missing(project) == {"cats/00.jpg": False, "cats/01.jpg": False, "cats/02.jpg": False,
                                 "dogs/00.jpg": False, "dogs/01.jpg": True}
    status = project_status(project)
    assert (status.images, status.missing, status.labelled) == (4, 1, 4)

    # Moving keeps sizes and mtimes, so a re-scan reads nothing and agrees on what is missing.
    reads: list[str] = []
    original = importer._process
    lock = threading.Lock()

    def counting(*args):
        with lock:
            reads.append(args[1].rel_path)
        return original(*args)

    monkeypatch.setattr(importer, "_process", counting)
    summary = import_folder(project, moved)
    assert reads == []
    assert (summary.unchanged, summary.missing) == (4, 1)
    assert len(list_folders(project)) == 1  # the same folder, not a second one


def test_relink_to_the_wrong_folder_then_the_right_one(project: Project, photo_folder, tmp_path: Path) -> None:
    root = photo_folder({"a": 2})
    import_folder(project, root)
    shutil.move(root, tmp_path / "moved")
    [folder] = list_folders(project)
    (tmp_path / "wrong").mkdir()
    with pytest.raises(FolderError, match=r"None of the folder's 2 photos is in .*wrong"):
        relink_folder(project, folder.id, tmp_path / "wrong")  # it used to mark every photo missing
    assert set(_missing(project).values()) == {False} and list_folders(project)[0].root == folder.root
    assert relink_folder(project, folder.id, tmp_path / "moved") == 2
    assert set(_missing(project).values()) == {False}
    assert project_status(project).images == 2


def test_relink_refusals(project: Project, photo_folder, tmp_path: Path) -> None:
    first = photo_folder({"a": 1}, root=tmp_path / "first")
    second = photo_folder({"b": 1}, root=tmp_path / "second")
    import_folder(project, first)
    import_folder(project, second)
    folder_ids = {f.root.name: f.id for f in list_folders(project)}
    with pytest.raises(FolderError, match="already in this project"):
        relink_folder(project, folder_ids["first"], second)
    with pytest.raises(FolderError, match="is not a folder"):
        relink_folder(project, folder_ids["first"], tmp_path / "nowhere")
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(FolderError, match="is not a folder"):
        relink_folder(project, folder_ids["first"], tmp_path / "file.jpg")


def test_remove_folder_forgets_images_and_labels_not_files_or_classes(project: Project, photo_folder) -> None:
    root = photo_folder({"cats": 2})
    import_folder(project, root, labels_from_subfolders=True)
    other = photo_folder({"dogs": 1}, root=root.parent / "other")
    import_folder(project, other)
    dog = add_class(project, "dog")
    with project.sessions() as session:
        set_label(project, session.scalars(select(Image.id).where(Image.rel_path == "dogs/00.jpg")).all(), dog.id)
    folder_id = next(f.id for f in list_folders(project) if f.root == root.resolve())
    remove_folder(project, folder_id)
    remove_folder(project, 9999)  # unknown: nothing happens
    assert [f.root for f in list_folders(project)] == [other.resolve()]
    assert [(c.name, c.count) for c in list_classes(project)] == [("cats", 0), ("dog", 1)]
    assert len(list(root.rglob("*.jpg"))) == 2  # files untouched
    status = project_status(project)
    assert (status.images, status.labelled) == (1, 1)
