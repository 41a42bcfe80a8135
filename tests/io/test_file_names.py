"""Free names never outgrow what a file system can create: a name already 255 bytes long still gets its "(2)"."""

from __future__ import annotations

import os

import imagemakers
import pytest

from desktop.core.export import export_imagefolder
from desktop.core.importer import import_folder
from desktop.io.file_names import NAME_MAX, name_bytes, numbered, safe_folder_name

LONGEST = "p" * (NAME_MAX - 4) + ".jpg"
ACCENTED = "é" * ((NAME_MAX - 4) // 2) + ".jpg"  # two bytes a character: 254 bytes
UNDECODABLE = os.fsdecode(b"\xff" * (NAME_MAX - 4)) + ".jpg"


@pytest.mark.parametrize("name", [LONGEST, ACCENTED, UNDECODABLE], ids=["ascii", "two-byte", "not utf-8"])
def test_a_numbered_name_fits_and_stays_distinct(name) -> None:
    names = [numbered(name, number) for number in range(2, 120)]
    assert all(name_bytes(n) <= NAME_MAX for n in names)
    assert len(set(names)) == len(names)
    assert all(n.endswith(f" ({number}).jpg") for n, number in zip(names, range(2, 120), strict=True))
    assert all(name.startswith(n[:-len(f" ({number}).jpg")])
               for n, number in zip(names, range(2, 120), strict=True))  # the stem is the name's own start


def test_short_names_are_numbered_as_before() -> None:
    assert numbered("IMG_1.jpg", 2) == "IMG_1 (2).jpg"
    assert numbered("README", 3) == "README (3)"


def test_a_class_name_longer_than_a_folder_name_can_be_is_shortened() -> None:
    assert name_bytes(safe_folder_name("c" * 400)) == NAME_MAX
    assert safe_folder_name("cats") == "cats"


def test_two_photos_with_the_longest_name_both_reach_the_export(project, tmp_path) -> None:
    """The red team's case: the second photo's "(2)" name was too long to create, so it was left out."""
    photos = tmp_path / "photos"
    imagemakers.write_jpeg(photos / "cats" / LONGEST, 32, 24, seed=1)
    imagemakers.write_jpeg(photos / "cats" / "more" / LONGEST, 32, 24, seed=2)
    import_folder(project, photos, labels_from_subfolders=True)
    result = export_imagefolder(project, tmp_path / "out")
    assert result.copied == 2 and result.skipped == [] and result.renamed == 1
    assert sorted(map(name_bytes, os.listdir(tmp_path / "out" / "cats"))) == [NAME_MAX, NAME_MAX]
