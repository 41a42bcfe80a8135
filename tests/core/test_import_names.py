"""File names a photo folder can hold: case variants, bytes that are not UTF-8, newlines, terminal escapes, and
generated ones (hypothesis). Each is one photo, imported once, found unchanged by a re-scan, printed escaped."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import imagemakers as mk
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from desktop.cli import main
from desktop.core.classes import list_classes
from desktop.core.importer import import_folder
from desktop.core.project import Project
from desktop.core.status import project_status
from desktop.db.models import Image, ImageClass, Label

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")
TINY_JPEG = mk.jpeg_bytes(mk.photo_array(8, 6))


def _case_sensitive(folder: Path) -> bool:
    probe = folder / "CaseProbe"
    probe.write_bytes(b"")
    try:
        return not (folder / "caseprobe").exists()
    finally:
        probe.unlink()


def _stored(project: Project) -> dict[str, str | None]:
    with project.sessions() as session:
        return dict(session.execute(select(Image.rel_path, Image.error)).all())


def test_case_variants_are_distinct_photos_and_class_folders_one_class(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    if not _case_sensitive(root):
        pytest.skip("this file system folds case: IMG_1.webp and img_1.WEBP are one file here")
    for name, seed in (("Cat/IMG_1.webp", 1), ("Cat/img_1.WEBP", 2), ("cat/IMG_1.webp", 3), ("dog/x.jpg", 4)):
        ok, encoded = cv2.imencode(Path(name).suffix.lower(), mk.photo_array(32, 24, seed=seed))
        assert ok
        mk.write(root / name, encoded.tobytes())
    summary = import_folder(project, root, labels_from_subfolders=True)
    assert (summary.imported, summary.broken, summary.labelled) == (4, 0, 4)
    assert set(_stored(project)) == {"Cat/IMG_1.webp", "Cat/img_1.WEBP", "cat/IMG_1.webp", "dog/x.jpg"}
    # Class names compare case-insensitively: Cat/ and cat/ are one class, named as first seen.
    assert [(c.name, c.count) for c in list_classes(project)] == [("Cat", 3), ("dog", 1)]
    assert import_folder(project, root).unchanged == 4


@posix_only
def test_undecodable_and_control_character_names_are_imported_and_printed_escaped(
        project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    names = {
        os.fsdecode(b"caf\xe9.jpg"): "good",  # Latin-1, not UTF-8: the bug was an encoding error from SQLite
        os.fsdecode(b"\x9b31mred.jpg"): "broken",  # a byte some terminals read as an escape sequence start
        "two\nlines.jpg": "broken",
        "\x1b]0;pwned\x07\x1b[2J.jpg": "broken",  # retitles and clears a terminal printed raw
    }
    for name, kind in names.items():
        (root / name).write_bytes(TINY_JPEG if kind == "good" else b"not a photo")
    summary = import_folder(project, root)
    assert (summary.imported, summary.broken) == (1, 3)
    assert set(_stored(project)) == set(names)
    assert import_folder(project, root).unchanged == 4

    assert main(["status", str(project.path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "\\x1b]0;pwned\\x07\\x1b[2J.jpg" in out and "\\x9b31mred.jpg" in out and "two\\x0alines.jpg" in out
    assert out.count("\n") == 2 + 3  # two summary lines, one line per broken file
    out.encode("utf-8")  # printable: no lone surrogates left

    assert main(["status", str(project.path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {Path(entry["path"]).name for entry in listed["broken_files"]} == {
        name for name, kind in names.items() if kind == "broken"}  # JSON gives the exact names back


# --- generated names ------------------------------------------------------------------------------------------

NAME_LIMIT = 255  # bytes in one file name on ext4, APFS, NTFS (in UTF-16 units there), tmpfs
name_characters = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")
stems = st.one_of(
    st.text(name_characters, min_size=1, max_size=40),
    st.text(st.sampled_from("aAbB .-_"), min_size=1, max_size=6),  # case variants and spaces
    st.text(name_characters, min_size=60, max_size=120),  # long names, in several bytes per character
    st.binary(min_size=1, max_size=30).filter(lambda raw: b"/" not in raw and b"\0" not in raw)
    .map(os.fsdecode),  # arbitrary bytes, undecodable ones too
)


def _usable(stem: str) -> bool:
    name = stem + ".jpg"
    return not stem.startswith(".") and len(os.fsencode(name)) <= NAME_LIMIT and stem.strip() != ""


@posix_only
def test_generated_names_are_each_imported_once_and_rescan_says_unchanged(project: Project) -> None:
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(stems.filter(_usable), min_size=1, max_size=6))
    def check(generated: list[str]) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch) / "photos"
            root.mkdir()
            names = set()
            for stem in generated:
                name = stem + ".jpg"
                try:
                    (root / name).write_bytes(TINY_JPEG)
                except OSError:  # a name this file system refuses (too long in its own encoding)
                    continue
                names.add(name)
            names = {entry.name for entry in os.scandir(root)}  # what the file system kept (case folding)
            first = import_folder(project, root)
            assert (first.imported, first.broken, first.unchanged) == (len(names), 0, 0)
            with project.sessions() as session:
                stored = set(session.scalars(select(Image.rel_path).join(Image.folder).where(
                    Image.folder.has(root=str(root.resolve())))))
            assert stored == names
            again = import_folder(project, root)
            assert (again.imported, again.unchanged, again.missing) == (0, len(names), 0)

    check()
    status = project_status(project)
    assert status.broken == 0 and status.images == status.unlabelled
    with project.sessions() as session:  # nothing else was touched
        assert session.scalar(select(Label.image_id)) is None and session.scalar(select(ImageClass.id)) is None
