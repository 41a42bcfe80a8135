"""`pigeonhole folders PROJECT --relink OLD NEW`: the project copied elsewhere, its folder re-pointed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.core.folders import FolderError, list_folders, relink_root
from desktop.core.importer import import_folder
from desktop.core.project import Project


def test_relink_finds_the_photos_under_new_and_refuses_what_it_cannot_do(project: Project, photo_folder,
                                                                         tmp_path: Path, capsys) -> None:
    old = photo_folder({"cats": 3, "dogs": 2})
    import_folder(project, old)
    new = tmp_path / "server" / "photos"
    shutil.copytree(old, new)
    (new / "dogs" / "01.jpg").unlink()
    with pytest.raises(FolderError, match="does not exist"):
        relink_root(project, old, tmp_path / "nowhere")
    with pytest.raises(FolderError, match="is not a folder of this project"):
        relink_root(project, tmp_path / "other", new)
    relinked = relink_root(project, old, new)
    assert (relinked.photos, relinked.found) == (5, 4)
    assert [info.root for info in list_folders(project)] == [new.resolve()]
    other = photo_folder({"birds": 1}, root=tmp_path / "more")
    import_folder(project, other)
    project.close()
    assert main(["folders", str(project.path), "--relink", str(new), str(other / "birds")]) == 1
    assert "is already indexed by this project" in capsys.readouterr().err
    assert main(["folders", str(project.path), "--json"]) == 0
    assert sorted(f["photos"] for f in json.loads(capsys.readouterr().out)["folders"]) == [1, 5]
