"""Exports never overwrite a photo: no file among the project's photos, no existing file without --force, and
never a photo even with it. Every refusal happens before anything is written (or converted)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import imagemakers
import pytest
from sqlalchemy import select

from desktop.cli import main
from desktop.core.classes import list_classes, rename_class
from desktop.core.export import DestinationError, export_csv, export_imagefolder, export_model
from desktop.core.importer import import_folder
from desktop.db.models import Folder, Image

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:FutureWarning")


def fingerprint(folder: Path) -> dict[str, str]:
    """Every entry below ``folder`` (files by content): a refused export leaves this exactly as it was."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def a_photo(project) -> Path:
    with project.sessions() as session:
        root, rel = session.execute(select(Folder.root, Image.rel_path).join(Folder).order_by(Image.id)).first()
    return Path(root) / rel


def export(project, what: str, out: Path, *extra: str) -> int:
    return main(["export", str(project.path), "--what", what, "--out", str(out), *extra])


@pytest.fixture
def photos(trained_project) -> Path:
    return a_photo(trained_project).parents[1]  # the indexed folder: photos/<class>/<file>


@pytest.mark.parametrize("what", ["csv", "torchscript", "onnx"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_a_file_export_never_lands_on_or_among_the_photos(trained_project, photos, capsys, what, force):
    photo = a_photo(trained_project)
    before = fingerprint(photos)
    # A photo, a new name beside it, and (for a model, whose name is then chosen inside) the folder itself.
    for out in (photo, photo.with_name("new-file.csv"), *([photos] if what != "csv" else [])):
        assert export(trained_project, what, out, *force) == 1
        err = capsys.readouterr().err
        assert "one of this project's photo folders" in err and err.count("\n") == 1
    assert fingerprint(photos) == before


def test_an_imagefolder_export_never_goes_into_a_photo_folder(trained_project, photos, tmp_path, capsys):
    before = fingerprint(photos)
    for out in (photos, photos / "discs", photos / "new-subfolder"):
        with pytest.raises(DestinationError, match="one of this project's photo folders"):
            export_imagefolder(trained_project, out)
    # Nor through a symbolic link to one.
    link = tmp_path / "link"
    link.symlink_to(photos, target_is_directory=True)
    assert export(trained_project, "imagefolder", link / "out") == 1
    assert "one of this project's photo folders" in capsys.readouterr().err
    assert fingerprint(photos) == before


def test_an_imagefolder_export_whose_class_folder_is_a_photo_folder_copies_nothing(trained_project, tmp_path):
    """out/discs is itself an indexed folder: refused before the first copy, not halfway."""
    elsewhere = tmp_path / "elsewhere"
    imagemakers.write_jpeg(elsewhere / "discs" / "mine.jpg", 64, 48)
    import_folder(trained_project, elsewhere / "discs")
    before = fingerprint(elsewhere)
    with pytest.raises(DestinationError, match=r"discs is in .*one of this project's photo folders"):
        export_imagefolder(trained_project, elsewhere)
    assert fingerprint(elsewhere) == before  # not even checks/ or stripes/ was made


def test_the_project_folder_is_off_limits(trained_project, capsys):
    database = trained_project.path / "project.db"
    before = database.stat().st_mtime_ns, database.stat().st_size
    assert export(trained_project, "csv", database, "--force") == 1
    assert "the project's own folder" in capsys.readouterr().err
    assert (database.stat().st_mtime_ns, database.stat().st_size) == before


def test_an_existing_file_is_replaced_only_with_force_and_only_when_this_project_exported_it(
        trained_project, tmp_path, capsys):
    mine = tmp_path / "mine.csv"
    mine.write_text("the user's own table")
    assert export(trained_project, "csv", mine) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err
    assert export(trained_project, "csv", mine, "--force") == 1  # not an export: --force does not reach it
    assert "not a file this project exported" in capsys.readouterr().err
    assert mine.read_text() == "the user's own table"
    ours = tmp_path / "ours.csv"
    assert export(trained_project, "csv", ours) == 0
    rename_class(trained_project, list_classes(trained_project)[0].id, "renamed")
    assert export(trained_project, "csv", ours, "--force") == 0  # our own earlier export: refreshed
    assert "renamed" in ours.read_text()
    ours.write_text(ours.read_text() + "the user's own note\n")  # edited since: the user's now
    assert export(trained_project, "csv", ours, "--force") == 1
    assert "changed since" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["csv", "onnx"])
def test_force_never_replaces_a_photo_of_another_collection(trained_project, tmp_path, capsys, what):
    """The red team's case: a JPEG that no project knows, named as the export's output."""
    photo = tmp_path / "holiday" / ("beach.csv" if what == "csv" else "beach.onnx")
    imagemakers.write_jpeg(photo, 64, 48)
    before = photo.read_bytes()
    assert export(trained_project, what, photo, "--force") == 1
    assert "not a file this project exported" in capsys.readouterr().err
    assert photo.read_bytes() == before


def test_force_refreshes_this_projects_own_model_export(trained_project, tmp_path):
    ours = tmp_path / "ours.onnx"
    assert export(trained_project, "onnx", ours) == 0
    assert export(trained_project, "onnx", ours, "--force") == 0  # the file and its labels.json: both ours


def test_the_labels_file_beside_a_model_obeys_the_same_rule(trained_project, tmp_path, capsys):
    (tmp_path / "model.labels.json").write_text("the user's own notes")
    for what in ("onnx", "torchscript"):
        assert export(trained_project, what, tmp_path / "model.onnx") == 1
        assert "model.labels.json already exists" in capsys.readouterr().err
    assert not (tmp_path / "model.onnx").exists()
    assert (tmp_path / "model.labels.json").read_text() == "the user's own notes"


def test_force_never_replaces_a_photo_reached_from_outside(trained_project, tmp_path):
    """A link (hard or symbolic) outside the photo folders is still the photo: refused even with force."""
    photo = a_photo(trained_project)
    original = photo.read_bytes()
    hard, soft = tmp_path / "hard.csv", tmp_path / "soft.csv"
    os.link(photo, hard)
    soft.symlink_to(photo)
    for out in (hard, soft):
        with pytest.raises(DestinationError, match=r"is one of this project's photos.*not even with --force"):
            export_csv(trained_project, out, force=True)
    (tmp_path / "model.labels.json").symlink_to(photo)  # the sidecar of model.onnx
    with pytest.raises(DestinationError, match=r"model\.labels\.json is one of this project's photos"):
        export_model(trained_project, tmp_path / "model.onnx", "onnx", force=True)
    assert photo.read_bytes() == original


def test_export_output_cannot_drive_the_terminal(trained_project, tmp_path, capsys):
    discs = next(c for c in list_classes(trained_project) if c.name == "discs")
    rename_class(trained_project, discs.id, "\x1b]0;owned\x07discs")
    assert export(trained_project, "imagefolder", tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;owned\\x07discs" in out
