"""Photos that travel together: a photo's XMP sidecars (both conventions) and its RAW/JPEG twin are sorted,
resumed and undone with it, each file journalled as its own operation tied to the photo."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import imagemakers as mk
import pytest
from sqlalchemy import select

from desktop.core.classes import add_class
from desktop.core.importer import import_folder
from desktop.core.labels import set_label
from desktop.core.project import Project
from desktop.core.sorting import SortRequest, plan_sort, run_sort, start_sort, undo_sort
from desktop.db.models import Folder, Image, SortOperation
from desktop.io.companions import companions_of, preferred_sidecar, sidecars_of

HELPER = Path(__file__).with_name("sort_crash_helper.py")
REPO = Path(__file__).resolve().parents[3]
needs_sigkill = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")
SIDECAR = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><!-- %s --></x:xmpmeta>'


def _tree(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def _pairs(root: Path) -> None:
    """RAW+JPEG pairs with sidecars in both conventions, extensions in either case; a JPEG with its own sidecar;
    a RAW alone (fake bytes: a move never decodes them)."""
    for index in range(6):
        folder = root / f"card{index % 2}"
        jpeg = mk.write_jpeg(folder / f"IMG_{index:04d}.JPG", 24, 16, seed=index)
        raw_suffix = ".CR2" if index % 2 else ".nef"
        mk.write(jpeg.with_suffix(raw_suffix), b"RAW" + bytes([index]) * 64)
        mk.write(folder / f"IMG_{index:04d}{raw_suffix}.xmp", SIDECAR % f"darktable {index}".encode())
        if index % 3 == 0:
            mk.write(folder / f"IMG_{index:04d}.XMP", SIDECAR % f"lightroom {index}".encode())
    mk.write_jpeg(root / "card0" / "solo.jpg", 24, 16, seed=40)
    mk.write(root / "card0" / "solo.jpg.xmp", SIDECAR % b"solo")


def _label_all(project: Project, name: str) -> None:
    cls = add_class(project, name)
    with project.sessions() as session:
        set_label(project, list(session.scalars(select(Image.id))), cls.id)


def _stems_together(dest: Path) -> None:
    """No sidecar or twin separated from its photo: every file beside a JPEG of its stem."""
    for path in dest.rglob("*"):
        if path.is_file() and path.suffix.lower() not in (".jpg",):
            stem = path.name.split(".")[0]
            assert list(path.parent.glob(f"{stem}.[jJ][pP][gG]")), f"{path} was separated from its photo"


def test_companions_of_a_photo_in_both_conventions(tmp_path: Path) -> None:
    _pairs(tmp_path)
    folder = tmp_path / "card0"
    found = {(c.path.name, c.kind) for c in companions_of(folder / "IMG_0000.JPG")}
    assert found == {("IMG_0000.nef", "twin"), ("IMG_0000.nef.xmp", "sidecar"), ("IMG_0000.XMP", "sidecar")}
    assert {c.path.name for c in companions_of(folder / "IMG_0000.nef")} == {
        "IMG_0000.JPG", "IMG_0000.nef.xmp", "IMG_0000.XMP"}
    assert [p.name for p in sidecars_of(folder / "IMG_0000.nef")] == ["IMG_0000.nef.xmp", "IMG_0000.XMP"]
    assert [p.name for p in sidecars_of(folder / "IMG_0000.JPG")] == ["IMG_0000.XMP"]
    assert preferred_sidecar(folder / "IMG_0002.JPG").name == "IMG_0002.JPG.xmp"  # none of its own yet
    assert {c.path.name for c in companions_of(folder / "solo.jpg")} == {"solo.jpg.xmp"}


def test_the_plan_sends_companions_with_their_photo_under_its_new_name(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _pairs(root)
    import_folder(project, root)
    _label_all(project, "birds")
    (dest / "birds").mkdir(parents=True)
    (dest / "birds" / "IMG_0000.nef").write_bytes(b"someone else's")  # the pair must take another stem together

    plan = plan_sort(project, SortRequest(dest, mode="move"))

    assert len(plan.photos) == 7 and plan.companions == 6 + 6 + 2 + 1
    assert plan.as_result().planned == 7 and plan.per_class == {"birds": 7}
    moved = {op.source.name: op.destination.name for op in plan.operations}
    assert moved["IMG_0000.JPG"] == "IMG_0000 (2).JPG"
    assert (moved["IMG_0000.nef"], moved["IMG_0000.nef.xmp"], moved["IMG_0000.XMP"]) == (
        "IMG_0000 (2).nef", "IMG_0000 (2).nef.xmp", "IMG_0000 (2).XMP")
    for op in plan.operations:
        if op.companion_of is not None:
            photo = plan.operations[op.companion_of]
            assert op.destination.parent == photo.destination.parent and op.class_name == photo.class_name


@needs_sigkill
def test_pairs_with_sidecars_moved_killed_resumed_and_undone_byte_for_byte(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _pairs(root)
    import_folder(project, root)
    _label_all(project, "birds")
    before = _tree(root)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, str(HELPER), str(project.path), str(sort_id), "--kill-after-link", "9"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    with project.sessions() as session:
        states = Counter(session.scalars(select(SortOperation.state).where(SortOperation.sort_id == sort_id)))
    assert states["done"] == 8 and states["started"] == 1 and states["planned"] == 22 - 9
    # Nothing lost (the photo killed between link and unlink is there under both names).
    assert {*_tree(root).values(), *_tree(dest).values()} == set(before.values())

    result = run_sort(project, sort_id)

    assert (result.status, result.planned, result.done, result.failed) == ("done", 7, 7, [])
    assert _tree(root) == {} and sorted(_tree(dest).values()) == sorted(before.values())
    _stems_together(dest / "birds")
    with project.sessions() as session:
        places = session.execute(select(Folder.root, Image.rel_path).join(Folder)).all()
    assert all((Path(folder) / rel).is_relative_to(dest) for folder, rel in places)

    undone = undo_sort(project, sort_id)

    assert undone.status == "undone" and not undone.kept
    assert undone.message == "7 photos put back." and len(undone.companions) == 15  # photos counted as photos
    assert _tree(root) == before and not dest.exists()


def test_a_companion_stays_beside_a_photo_that_could_not_be_sorted(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _pairs(root)
    import_folder(project, root)
    _label_all(project, "birds")
    plan = plan_sort(project, SortRequest(dest, mode="move"))
    photo = root / "card0" / "IMG_0000.JPG"
    photo.write_bytes(photo.read_bytes() + b"edited")  # changed after planning: it is not moved

    result = sort_sorted = run_sort(project, start_sort(project, plan))

    assert result.done == 6 and {failure.source.name for failure in sort_sorted.failed} == {
        "IMG_0000.JPG", "IMG_0000.nef", "IMG_0000.nef.xmp", "IMG_0000.XMP"}
    assert sorted(path.name for path in (root / "card0").iterdir()) == [
        "IMG_0000.JPG", "IMG_0000.XMP", "IMG_0000.nef", "IMG_0000.nef.xmp"]
    _stems_together(dest / "birds")


def test_export_copies_a_photo_with_its_sidecars_under_one_free_stem(project: Project, tmp_path: Path) -> None:
    from desktop.core.export import export_imagefolder

    root, out = tmp_path / "photos", tmp_path / "dataset"
    _pairs(root)
    import_folder(project, root)
    _label_all(project, "birds")
    mk.write(out / "birds" / "IMG_0000.XMP", b"someone else's")  # the JPEG and its sidecar take another stem

    export = export_imagefolder(project, out)

    exported = sorted(path.name for path in (out / "birds").iterdir())
    assert "IMG_0000 (2).JPG" in exported and "IMG_0000 (2).XMP" in exported
    assert (out / "birds" / "IMG_0000 (2).XMP").read_bytes() == (root / "card0" / "IMG_0000.XMP").read_bytes()
    assert (out / "birds" / "IMG_0000.XMP").read_bytes() == b"someone else's"
    assert (out / "birds" / "solo.jpg.xmp").read_bytes() == (root / "card0" / "solo.jpg.xmp").read_bytes()
    assert export.copied == 7


def test_undo_leaves_companions_with_a_photo_that_cannot_go_back(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _pairs(root)
    import_folder(project, root)
    _label_all(project, "birds")
    result = run_sort(project, start_sort(project, plan_sort(project, SortRequest(dest, mode="move"))))
    moved = dest / "birds" / "IMG_0000.JPG"
    moved.rename(tmp_path / "elsewhere.jpg")  # the user took the sorted photo away

    undone = undo_sort(project, result.sort_id)

    kept = sorted(Path(path).name for path, _reason in undone.kept)
    assert kept == ["IMG_0000.JPG", "IMG_0000.XMP", "IMG_0000.nef", "IMG_0000.nef.xmp"]
    assert sorted(path.name for path in (dest / "birds").iterdir()) == ["IMG_0000.XMP", "IMG_0000.nef",
                                                                       "IMG_0000.nef.xmp"]
    assert not list((root / "card0").glob("IMG_0000*"))  # nothing of the group went back without its photo
    assert (root / "card1" / "IMG_0001.JPG").exists() and (root / "card1" / "IMG_0001.CR2.xmp").exists()


def test_each_photo_looks_only_at_the_names_that_share_its_stem(project: Project, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder of N photos: every photo's companions were looked for in all N names (sorted, each time), so
    planning, export, keywords and tagging grew with N² — 50,000 photos in one folder would not finish."""
    from desktop.core.sorting import placing as placing_module
    from desktop.core.sorting import plan as plan_module
    from desktop.io.companions import FolderListings

    root = tmp_path / "many"
    for number in range(60):
        mk.write_jpeg(root / f"IMG_{number:04d}.JPG", 16, 12, seed=number)
    (root / "IMG_0007.JPG.xmp").write_text("<x/>")
    (root / "IMG_0007.CR2").write_bytes(b"raw")
    import_folder(project, root, workers=2)
    seen: list[int] = []
    real = plan_module.companions_of

    def counting(photo, names=None):
        seen.append(len(names))
        return real(photo, names)

    monkeypatch.setattr(plan_module, "companions_of", counting)  # a RAW's JPEG twin
    monkeypatch.setattr(placing_module, "companions_of", counting)  # what travels with each photo
    plan = plan_sort(project, SortRequest(tmp_path / "out"))
    assert len(seen) >= 60 and max(seen) == 3  # IMG_0007's three names; every other photo only its own
    assert plan.companions == 2
    listings = FolderListings()
    assert sorted(listings.near(root / "IMG_0007.JPG")) == ["IMG_0007.CR2", "IMG_0007.JPG", "IMG_0007.JPG.xmp"]
    assert listings.near(root / "missing" / "x.jpg") == []
