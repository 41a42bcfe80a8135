"""Keywords in: read from a photo's embedded XMP and IPTC and from its sidecars on import, counted, and made
into labels; untrusted XMP (entities, depth, size, broken XML) gives a reason, never a crash."""

from __future__ import annotations

import json
import os
from pathlib import Path

import imagemakers as mk
import pytest
from sqlalchemy import select
from xmpmakers import jpeg_with, xmp_packet

from desktop.cli import main
from desktop.core.classes import add_class
from desktop.core.importer import import_folder
from desktop.core.keywords import (
    KeywordError,
    keyword_counts,
    keywords_of,
    label_from_keywords,
    read_keywords,
)
from desktop.core.labels import set_label
from desktop.core.project import Project, open_project
from desktop.db.models import Folder, Image, ImageClass, Label
from desktop.io import xmp


def test_xmp_keywords_in_every_convention() -> None:
    packet = xmp_packet(["Animals", "Birds", "Pigeon", "garden"], ["Animals|Birds|Pigeon"], ["Places/Home"])
    assert xmp.keywords_in_xmp(packet) == [("garden",), ("Animals", "Birds", "Pigeon"), ("Places", "Home")]


@pytest.mark.parametrize("hostile", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&lol2;</x:xmpmeta>',
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b"<a>" * 100 + b"</a>" * 100,
    b"<x:xmpmeta><unclosed>",
    b"<r>" + b"<e/>" * (xmp.MAX_ELEMENTS + 1) + b"</r>",
    b" " * (xmp.MAX_SIDECAR_BYTES + 1),
])
def test_hostile_xmp_is_refused_with_a_reason(hostile: bytes) -> None:
    with pytest.raises(xmp.XmpError) as refused:
        xmp.keywords_in_xmp(hostile)
    assert str(refused.value) and "\n" not in str(refused.value)


def _folder(root: Path) -> Path:
    jpeg_with(root / "embedded.jpg", packet=xmp_packet(["Animals", "Birds", "Pigeon"], ["Animals|Birds|Pigeon"]))
    jpeg_with(root / "iptc.jpg", iptc=["Cat", "Animals|Mammals"], seed=1)  # IPTC keeps a "|" as it is
    mk.write_jpeg(root / "IMG_0002.JPG", 24, 16, seed=2)
    mk.write(root / "IMG_0002.JPG.xmp", xmp_packet(hierarchical=["Animals|Mammals|Cat"]))  # darktable
    mk.write_jpeg(root / "IMG_0003.jpg", 24, 16, seed=3)
    mk.write(root / "IMG_0003.xmp", xmp_packet(digikam=["Animals/Birds/Crow"]))  # Lightroom's name, digiKam's tags
    mk.write_jpeg(root / "both.jpg", 24, 16, seed=4)
    mk.write(root / "both.xmp", xmp_packet(hierarchical=["Animals|Birds|Crow", "Animals|Mammals|Dog"]))
    mk.write_truncated_jpeg(root / "broken.jpg")  # cannot be read: its keyword is kept but never offered
    mk.write(root / "broken.jpg.xmp", xmp_packet(hierarchical=["Animals|Birds|Crow"]))
    mk.write_jpeg(root / "hostile.jpg", 24, 16, seed=5)
    mk.write(root / "hostile.jpg.xmp", b'<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>')
    return root


def test_keywords_are_read_on_import_and_shown_per_photo(project: Project, tmp_path: Path) -> None:
    root = _folder(tmp_path / "photos")
    summary = import_folder(project, root)

    scan = read_keywords(project, summary.folder_id)

    assert (scan.photos, scan.with_keywords) == (7, 6)
    assert [(path.name, "entities" in reason) for path, reason in scan.problems] == [("hostile.jpg.xmp", True)]
    with project.sessions() as session:
        ids = {rel: image_id for image_id, rel in session.execute(select(Image.id, Image.rel_path))}
    assert keywords_of(project, ids["embedded.jpg"]) == ["Animals|Birds|Pigeon"]
    assert keywords_of(project, ids["iptc.jpg"]) == ["Animals|Mammals", "Cat"]
    assert keywords_of(project, ids["IMG_0002.JPG"]) == ["Animals|Mammals|Cat"]
    assert keywords_of(project, ids["IMG_0003.jpg"]) == ["Animals|Birds|Crow"]
    assert dict(keyword_counts(project))["Animals|Birds|Crow"] == 2


def test_keywords_become_labels_by_name_or_by_branch(project: Project, tmp_path: Path) -> None:
    root = _folder(tmp_path / "photos")
    read_keywords(project, import_folder(project, root).folder_id)
    with project.sessions() as session:
        ids = {rel: image_id for image_id, rel in session.execute(select(Image.id, Image.rel_path))}
    set_label(project, [ids["IMG_0003.jpg"]], add_class(project, "corvids").id)  # the user's own label stays

    by_branch = label_from_keywords(project, branch="Animals|")

    assert by_branch.per_class == {"Birds": 1, "Mammals": 2}
    assert (by_branch.already_labelled, by_branch.ambiguous) == (1, 1)  # IMG_0003 kept; both.jpg is two classes
    with project.sessions() as session:
        labels = dict(session.execute(select(Image.rel_path, ImageClass.name).join(Label, Label.image_id == Image.id)
                                      .join(ImageClass, ImageClass.id == Label.class_id)).all())
    assert labels == {"embedded.jpg": "Birds", "iptc.jpg": "Mammals", "IMG_0002.JPG": "Mammals",
                      "IMG_0003.jpg": "corvids"}
    with pytest.raises(KeywordError, match="No photo carries the keyword “Zebra”"):
        label_from_keywords(project, ["Zebra"])


def test_the_keywords_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, project_dir = _folder(tmp_path / "photos"), tmp_path / "project"
    assert main(["import", str(project_dir), str(root), "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)["folders"][0]
    assert imported["with_keywords"] == 6 and any("hostile.jpg.xmp" in w for w in imported["warnings"])

    assert main(["keywords", str(project_dir), "--json"]) == 0
    listed = {row["keyword"]: row["photos"] for row in json.loads(capsys.readouterr().out)["keywords"]}
    assert listed["Animals|Birds|Crow"] == 2 and listed["Cat"] == 1

    assert main(["keywords", str(project_dir), "--as-labels", "Cat", "Animals|Birds|Pigeon"]) == 0
    assert "2 photos labelled from keywords into 2 classes" in capsys.readouterr().out
    with open_project(project_dir, create=False) as project, project.sessions() as session:
        assert sorted(session.scalars(select(ImageClass.name))) == ["Cat", "Pigeon"]
        assert session.scalar(select(Folder.root)) == str(root.resolve())

    assert main(["keywords", str(project_dir), "--branch", "Plants|"]) == 1
    assert "No photo carries a keyword below “Plants|”." in capsys.readouterr().err


def test_an_xmp_packet_is_found_near_either_end_of_a_large_file_and_a_fifo_never_blocks(tmp_path: Path,
                                                                                        hang_guard: None) -> None:
    packet = xmp_packet(["Pigeon"])
    near_end = mk.write(tmp_path / "big.png", b"\x89PNG" + b"\0" * (xmp.HEAD_BYTES + 10) + packet + b"\0" * 100)
    at_start = mk.write(tmp_path / "small.webp", b"RIFF" + packet + b"\0" * 100)
    assert xmp.keywords_of_file(near_end) == xmp.keywords_of_file(at_start) == [("Pigeon",)]
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(xmp.XmpError, match="not a regular file"):
        xmp.keywords_of_file(fifo)
