"""Duplicates moved aside are resolved, not lost: the project's status counts them as set aside (not missing),
the groups still add up to every photo the project knows, the sidebar's folder counts leave them out, and
`pigeonhole status` says so; undoing the move makes them ordinary photos again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import tests.imagemakers as mk
from desktop.cli import main
from desktop.core.duplicate_resolving import exact_groups, plan_resolution, resolve
from desktop.core.folders import list_folders
from desktop.core.importer import import_folder
from desktop.core.project import Project
from desktop.core.sorting import undo_sort
from desktop.core.status import project_status
from desktop.db.models import Image


def _known(project: Project) -> int:
    with project.sessions() as session:
        return session.query(Image).count()


def test_duplicates_moved_aside_count_as_set_aside_not_missing(project: Project, tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    for index in range(3):
        mk.write_jpeg(photos / f"{index}.jpg", 32, 24, seed=index)
    shutil.copy(photos / "0.jpg", photos / "0 copy.jpg")
    (photos / "sub").mkdir()
    shutil.copy(photos / "1.jpg", photos / "sub" / "1 copy.jpg")
    import_folder(project, photos)
    (photos / "2.jpg").unlink()  # really gone: still missing after a re-scan
    import_folder(project, photos)

    resolve(project, plan_resolution(project, exact_groups(project), destination=tmp_path / "aside"))
    status = project_status(project)
    assert (status.images, status.missing, status.set_aside) == (2, 1, 2)
    assert status.images + status.broken + status.missing + status.set_aside == _known(project) == 5
    assert [folder.images for folder in list_folders(project)] == [3]  # two present, one missing, none aside
    assert import_folder(project, photos).missing == 1  # a re-scan says so too

    project.close()
    assert main(["status", str(project.path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["missing"], shown["set_aside"]) == (1, 2)
    assert main(["status", str(project.path)]) == 0
    assert "1 missing, 2 set aside (duplicates moved aside; undo-sort puts them back)" in capsys.readouterr().out


def test_undoing_the_move_makes_them_ordinary_photos_again(project: Project, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    mk.write_jpeg(photos / "a.jpg", 32, 24, seed=1)
    shutil.copy(photos / "a.jpg", photos / "a copy.jpg")
    import_folder(project, photos)
    resolve(project, plan_resolution(project, exact_groups(project), destination=tmp_path / "aside"))
    assert (project_status(project).set_aside, [f.images for f in list_folders(project)]) == (1, [1])

    undo_sort(project)
    status = project_status(project)
    assert (status.images, status.missing, status.set_aside) == (2, 0, 0)
    assert [folder.images for folder in list_folders(project)] == [2]
