"""desktop.core.importer on real folders: counts, broken files, re-scans, subfolder labels, thumbnails, cancel."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import imagemakers as mk
import pytest
from sqlalchemy import func, select

from desktop.core import importer
from desktop.core.classes import list_classes
from desktop.core.importer import ImportProgress, import_folder
from desktop.core.labels import labels_of, set_label
from desktop.core.project import Project
from desktop.core.status import project_status
from desktop.db.models import Folder, Image, ImageClass, Label
from desktop.io import images


def _rows(project: Project) -> dict[str, Image]:
    with project.sessions() as session:
        return {image.rel_path: image for image in session.scalars(select(Image))}


def _labels(project: Project) -> dict[str, tuple[str, str]]:
    """rel_path -> (class name, label source)."""
    with project.sessions() as session:
        rows = session.execute(
            select(Image.rel_path, ImageClass.name, Label.source)
            .join(Label, Label.image_id == Image.id)
            .join(ImageClass, ImageClass.id == Label.class_id)
        )
        return {rel: (name, source) for rel, name, source in rows}


def _touch_later(path: Path, seconds: float = 10.0) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime + seconds, stat.st_mtime + seconds))


# --- first import ---------------------------------------------------------------------------------------------

def test_import_counts_and_broken_reasons(project: Project, zoo: Path) -> None:
    progress: list[ImportProgress] = []
    summary = import_folder(project, zoo, on_progress=lambda p: progress.append(
        ImportProgress(**vars(p))))
    assert (summary.imported, summary.broken, summary.unchanged, summary.missing) == (
        len(mk.GOOD_FILES), len(mk.BAD_FILES), 0, 0)
    assert not summary.cancelled
    assert summary.folder == str(zoo.resolve())
    broken = dict(summary.broken_files)
    assert set(broken) == set(mk.BAD_FILES)
    for rel_path, fragment in mk.BAD_FILES.items():
        assert fragment in broken[rel_path].lower(), (rel_path, broken[rel_path])
    last = progress[-1]
    assert (last.seen, last.to_process, last.processed, last.scanning) == (
        len(mk.GOOD_FILES) + len(mk.BAD_FILES), len(mk.GOOD_FILES) + len(mk.BAD_FILES),
        len(mk.GOOD_FILES) + len(mk.BAD_FILES), False)

    rows = _rows(project)
    assert set(rows) == set(mk.GOOD_FILES) | set(mk.BAD_FILES)
    for rel_path, (width, height) in mk.GOOD_FILES.items():
        row = rows[rel_path]
        assert row.error is None, (rel_path, row.error)
        assert (row.width, row.height) == (width, height), rel_path  # displayed size (EXIF applied)
        assert project.thumbnails.has(row.content_hash), rel_path
        assert row.size == (zoo / rel_path).stat().st_size
    for rel_path in mk.BAD_FILES:
        assert rows[rel_path].error and rows[rel_path].width is None


def test_broken_files_are_listed_by_status(project: Project, zoo: Path) -> None:
    import_folder(project, zoo)
    status = project_status(project)
    assert (status.images, status.broken, status.labelled, status.unlabelled, status.missing) == (
        len(mk.GOOD_FILES), len(mk.BAD_FILES), 0, len(mk.GOOD_FILES), 0)
    listed = {entry["path"]: entry["reason"] for entry in status.broken_files}
    assert set(listed) == {str(zoo.resolve() / rel) for rel in mk.BAD_FILES}
    for rel_path, fragment in mk.BAD_FILES.items():
        assert fragment in listed[str(zoo.resolve() / rel_path)].lower()
    assert len(project_status(project, broken_limit=2).broken_files) == 2


def test_import_never_raises_on_unexpected_decoder_errors(project: Project, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    for index in range(4):
        mk.write_jpeg(root / f"{index}.jpg", 40, 30, seed=index)
    real = images.make_thumbnail
    failures = {"0.jpg": MemoryError("out of memory"), "1.jpg": RuntimeError("cv2 gave up"),
                "2.jpg": images.ImageError("the image data is damaged")}

    def flaky(data, info=None, size=images.THUMBNAIL_SIZE):
        for name, error in failures.items():
            if data == (root / name).read_bytes():
                raise error
        return real(data, info, size)

    monkeypatch.setattr(images, "make_thumbnail", flaky)
    summary = import_folder(project, root)
    assert (summary.imported, summary.broken) == (1, 3)
    reasons = dict(summary.broken_files)
    assert "MemoryError" in reasons["0.jpg"] and "cv2 gave up" in reasons["1.jpg"]
    assert reasons["2.jpg"] == "the image data is damaged"


def test_unreadable_file_real_permissions(project: Project, tmp_path: Path) -> None:
    if mk.is_root():
        pytest.skip("running as root: chmod 000 does not stop root reading; the socket test covers unreadable files")
    root = tmp_path / "photos"
    locked = mk.write_jpeg(root / "locked.jpg", 40, 30)
    locked.chmod(0)
    try:
        summary = import_folder(project, root)
    finally:
        locked.chmod(0o644)
    assert summary.broken_files == [("locked.jpg", "cannot read the file: permission denied")]


def test_unreadable_file_is_broken_not_fatal(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    mk.write_jpeg(root / "fine.jpg", 40, 30)
    mk.make_socket_file(root / "socket.jpg")  # open() fails with ENXIO, even for root
    summary = import_folder(project, root)
    assert summary.imported == 1
    assert [path for path, _ in summary.broken_files] == ["socket.jpg"]
    assert "cannot read the file" in summary.broken_files[0][1]


def test_project_inside_the_scanned_folder_is_not_imported(tmp_path: Path) -> None:
    from desktop.core.project import open_project

    root = tmp_path / "photos"
    mk.write_jpeg(root / "a.jpg", 40, 30)
    with open_project(root / "sorted.pigeonhole") as project:
        import_folder(project, root)
        import_folder(project, root)  # the second run sees the thumbnails the first one wrote
        assert set(_rows(project)) == {"a.jpg"}


def test_import_of_a_missing_folder_raises_a_readable_error(project: Project, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        import_folder(project, tmp_path / "nowhere")


def test_batches_and_single_worker(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "COMMIT_EVERY", 3)
    root = tmp_path / "photos"
    for index in range(10):
        mk.write_jpeg(root / f"{index:02d}.jpg", 40, 30, seed=index)
    summary = import_folder(project, root, workers=1)
    assert summary.imported == 10
    assert len(_rows(project)) == 10


# --- re-scans -------------------------------------------------------------------------------------------------

def test_rescan_does_not_reread_unchanged_files(project: Project, zoo: Path, count_reads: list[str]) -> None:
    import_folder(project, zoo)
    assert sorted(count_reads) == sorted(set(mk.GOOD_FILES) | set(mk.BAD_FILES))
    before = _rows(project)
    count_reads.clear()
    summary = import_folder(project, zoo)
    assert count_reads == []
    assert (summary.imported, summary.broken, summary.unchanged, summary.missing) == (
        0, 0, len(mk.GOOD_FILES) + len(mk.BAD_FILES), 0)
    after = _rows(project)
    assert {k: (v.id, v.content_hash, v.error) for k, v in after.items()} == {
        k: (v.id, v.content_hash, v.error) for k, v in before.items()}
    # Broken files stay listed after a re-scan that did not read them.
    assert project_status(project).broken == len(mk.BAD_FILES)


def test_rescan_reprocesses_a_changed_file(project: Project, tmp_path: Path, count_reads: list[str]) -> None:
    root = tmp_path / "photos"
    mk.write_jpeg(root / "a.jpg", 64, 48, seed=1)
    mk.write_jpeg(root / "b.jpg", 64, 48, seed=2)
    import_folder(project, root)
    old = _rows(project)["a.jpg"]
    count_reads.clear()
    mk.write_jpeg(root / "a.jpg", 96, 48, seed=3)  # new content, new size
    _touch_later(root / "a.jpg")
    summary = import_folder(project, root)
    assert count_reads == ["a.jpg"]
    assert (summary.imported, summary.unchanged) == (1, 1)
    new = _rows(project)["a.jpg"]
    assert new.id == old.id  # same row, updated in place (labels stay attached)
    assert new.content_hash != old.content_hash and (new.width, new.height) == (96, 48)
    assert project.thumbnails.has(new.content_hash)


def test_a_file_that_is_fixed_is_no_longer_broken(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    mk.write_truncated_jpeg(root / "a.jpg")
    import_folder(project, root)
    assert project_status(project).broken == 1
    mk.write_jpeg(root / "a.jpg", 64, 48)
    _touch_later(root / "a.jpg")
    import_folder(project, root)
    status = project_status(project)
    assert (status.broken, status.images, status.broken_files) == (0, 1, [])


def test_deleted_file_is_missing_and_comes_back(project: Project, tmp_path: Path, count_reads: list[str]) -> None:
    root = tmp_path / "photos"
    mk.write_jpeg(root / "a.jpg", 64, 48, seed=1)
    mk.write_jpeg(root / "b.jpg", 64, 48, seed=2)
    import_folder(project, root)
    stashed = tmp_path / "stash.jpg"
    shutil.move(root / "b.jpg", stashed)
    summary = import_folder(project, root)
    assert summary.missing == 1
    assert _rows(project)["b.jpg"].missing
    status = project_status(project)
    assert (status.images, status.missing) == (1, 1)

    shutil.move(stashed, root / "b.jpg")  # same bytes, same mtime: back without being re-read
    count_reads.clear()
    summary = import_folder(project, root)
    assert count_reads == []
    assert (summary.missing, summary.unchanged) == (0, 2)
    assert not _rows(project)["b.jpg"].missing
    assert project_status(project).missing == 0


def test_missing_file_that_returns_changed_is_reprocessed(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    mk.write_jpeg(root / "a.jpg", 64, 48, seed=1)
    import_folder(project, root)
    (root / "a.jpg").unlink()
    import_folder(project, root)
    mk.write_jpeg(root / "a.jpg", 80, 48, seed=2)
    _touch_later(root / "a.jpg")
    import_folder(project, root)
    row = _rows(project)["a.jpg"]
    assert (row.missing, row.width) == (False, 80)


def test_labels_survive_a_missing_period(project: Project, photo_folder) -> None:
    root = photo_folder({"cats": 2})
    import_folder(project, root)
    ids = [row.id for row in _rows(project).values()]
    from desktop.core.classes import add_class

    cat = add_class(project, "cat")
    set_label(project, ids, cat.id)
    moved = root.parent / "elsewhere"
    shutil.move(root, moved)
    root.mkdir()
    import_folder(project, root)
    status = project_status(project)
    # Per-class counts, like "labelled", count usable images only, so they add up.
    assert (status.images, status.labelled, status.missing, status.classes) == (0, 0, 2, {"cat": 0})
    assert [(c.name, c.count) for c in list_classes(project)] == [("cat", 0)]  # counts agree with status
    assert set(labels_of(project, ids).values()) == {cat.id}  # the labels themselves are kept
    root.rmdir()
    shutil.move(moved, root)
    import_folder(project, root)
    status = project_status(project)
    assert (status.images, status.labelled, status.missing, status.classes) == (2, 2, 0, {"cat": 2})


# --- labels from subfolders -------------------------------------------------------------------------------------

def test_labels_from_subfolders_creates_classes_and_labels(project: Project, photo_folder) -> None:
    root = photo_folder({"cats": 3, "dogs": 2})
    mk.write_jpeg(root / "loose.jpg", 40, 30)  # in the root: no label
    mk.write_jpeg(root / "cats" / "deeper" / "kitten.jpg", 40, 30)  # labelled by its top folder
    mk.write_truncated_jpeg(root / "dogs" / "broken.jpg")  # broken: never labelled
    summary = import_folder(project, root, labels_from_subfolders=True)
    assert (summary.imported, summary.broken, summary.labelled) == (7, 1, 6)
    classes = list_classes(project)
    assert [(c.name, c.count, c.shortcut) for c in classes] == [("cats", 4, "1"), ("dogs", 2, "2")]
    labels = _labels(project)
    assert labels["cats/deeper/kitten.jpg"] == ("cats", "folder")
    assert "loose.jpg" not in labels and "dogs/broken.jpg" not in labels
    status = project_status(project)
    assert (status.labelled, status.unlabelled, status.classes) == (6, 1, {"cats": 4, "dogs": 2})
    with project.sessions() as session:
        assert session.scalar(select(Folder.labels_from_subfolders)) is True


def test_subfolder_labels_never_overwrite_a_users_label(project: Project, photo_folder) -> None:
    from desktop.core.classes import add_class

    root = photo_folder({"cats": 2, "dogs": 2})
    import_folder(project, root, labels_from_subfolders=True)
    bird = add_class(project, "bird")
    rows = _rows(project)
    set_label(project, [rows["cats/00.jpg"].id], bird.id)  # the user disagrees with the folder
    # Re-scan with every file changed, so each is re-processed and offered its folder label again.
    for path in root.rglob("*.jpg"):
        _touch_later(path)
    summary = import_folder(project, root)  # the folder remembers labels_from_subfolders
    assert (summary.imported, summary.labelled) == (4, 0)
    labels = _labels(project)
    assert labels["cats/00.jpg"] == ("bird", "user")
    assert labels["cats/01.jpg"] == ("cats", "folder")
    assert len(list_classes(project)) == 3


def test_asking_for_subfolder_labels_later_labels_files_already_imported(project: Project, photo_folder,
                                                                          count_reads: list[str]) -> None:
    """Import plainly, then again with labels_from_subfolders: the unchanged files get labels, unread."""
    from desktop.core.classes import add_class

    root = photo_folder({"cats": 2, "dogs": 2})
    mk.write_truncated_jpeg(root / "dogs" / "broken.jpg")
    import_folder(project, root)
    assert _labels(project) == {}
    bird = add_class(project, "bird")
    set_label(project, [_rows(project)["dogs/00.jpg"].id], bird.id)
    count_reads.clear()
    summary = import_folder(project, root, labels_from_subfolders=True)
    assert count_reads == []
    assert summary.labelled == 3
    assert _labels(project) == {"cats/00.jpg": ("cats", "folder"), "cats/01.jpg": ("cats", "folder"),
                                "dogs/00.jpg": ("bird", "user"), "dogs/01.jpg": ("dogs", "folder")}
    # A plain re-scan (the folder remembers the setting) does not re-label what the user cleared.
    set_label(project, [_rows(project)["cats/00.jpg"].id], None)
    assert import_folder(project, root).labelled == 0
    assert "cats/00.jpg" not in _labels(project)
    # Asking again labels only what is unlabelled, and creates no class for folders already handled.
    from desktop.core.classes import rename_class

    rename_class(project, next(c.id for c in list_classes(project) if c.name == "dogs"), "hounds")
    assert import_folder(project, root, labels_from_subfolders=True).labelled == 1
    assert sorted(c.name for c in list_classes(project)) == ["bird", "cats", "hounds"]


def test_subfolder_names_that_cannot_be_classes_give_a_warning(project: Project, photo_folder) -> None:
    root = photo_folder({"cats": 2, "_unsure": 2})
    summary = import_folder(project, root, labels_from_subfolders=True)
    assert summary.imported == 4 and summary.labelled == 2
    assert len(summary.class_warnings) == 1 and "_" in summary.class_warnings[0]
    assert [c.name for c in list_classes(project)] == ["cats"]


def test_subfolder_names_match_existing_classes_case_insensitively(project: Project, photo_folder) -> None:
    from desktop.core.classes import add_class

    add_class(project, "Cats")
    root = photo_folder({"cats": 2})
    import_folder(project, root, labels_from_subfolders=True)
    assert [(c.name, c.count) for c in list_classes(project)] == [("Cats", 2)]


def test_non_ascii_subfolder_becomes_a_class(project: Project, zoo: Path) -> None:
    import_folder(project, zoo, labels_from_subfolders=True)
    labels = _labels(project)
    assert labels["été/猫 1.JPG"] == ("été", "folder")
    assert labels["good/photo.jpg"] == ("good", "folder")
    assert not any(path.startswith("bad/") for path in labels)


# --- thumbnails -----------------------------------------------------------------------------------------------

def test_duplicate_files_share_one_thumbnail(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    original = mk.write_jpeg(root / "a.jpg", 300, 200, seed=1)
    for name in ("copy1.jpg", "sub/copy2.JPG", "copy3.jpeg"):
        mk.write(root / name, original.read_bytes())
    mk.write_jpeg(root / "other.jpg", 300, 200, seed=2)
    summary = import_folder(project, root)
    assert summary.imported == 5
    hashes = {row.rel_path: row.content_hash for row in _rows(project).values()}
    assert len(set(hashes.values())) == 2
    thumbs = sorted(p for p in project.thumbnails.directory.rglob("*") if p.is_file())
    assert len(thumbs) == 2
    assert all(not p.name.startswith(".tmp-") for p in thumbs)
    path = project.thumbnails.path_for(hashes["a.jpg"])
    assert path in thumbs
    info = images.probe(path.read_bytes())
    assert (info.format, info.width, info.height) == ("JPEG", 256, 171)


def test_existing_thumbnail_is_not_rewritten(project: Project, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    original = mk.write_jpeg(root / "a.jpg", 120, 80, seed=1)
    import_folder(project, root)
    mk.write(tmp_path / "second" / "same.jpg", original.read_bytes())
    calls: list[int] = []
    real = images.make_thumbnail
    monkeypatch.setattr(images, "make_thumbnail", lambda *a, **k: calls.append(1) or real(*a, **k))
    import_folder(project, tmp_path / "second")
    assert calls == []


# --- cancel ---------------------------------------------------------------------------------------------------

def test_cancel_mid_import_then_a_second_import_completes(project: Project, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          count_reads: list[str]) -> None:
    monkeypatch.setattr(importer, "COMMIT_EVERY", 4)
    root = tmp_path / "photos"
    total = 40
    for index in range(total):
        if index % 10 == 7:
            mk.write_truncated_jpeg(root / f"{index:02d}.jpg", 64, 48)
        else:
            mk.write_jpeg(root / f"{index:02d}.jpg", 64, 48, seed=index)
    cancel = threading.Event()

    def stop_after_some(progress: ImportProgress) -> None:
        if progress.processed >= 10:
            cancel.set()

    first = import_folder(project, root, on_progress=stop_after_some, cancel=cancel, workers=2)
    assert first.cancelled
    done = first.imported + first.broken
    assert 10 <= done < total
    rows = _rows(project)
    assert len(rows) == done  # everything processed was stored; nothing half-written
    for row in rows.values():
        assert (row.error is None) == (row.width is not None)
        assert not row.missing  # a cancelled import never marks files missing
        if row.error is None:
            assert project.thumbnails.has(row.content_hash)

    count_reads.clear()
    second = import_folder(project, root)
    assert not second.cancelled
    assert len(count_reads) == total - done  # only what the first run did not finish
    assert second.unchanged == done
    rows = _rows(project)
    assert len(rows) == total
    with project.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == total
    status = project_status(project)
    assert (status.images, status.broken) == (total - 4, 4)


def test_cancel_during_the_scan_marks_nothing_missing(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for index in range(5):
        mk.write_jpeg(root / f"{index}.jpg", 40, 30, seed=index)
    import_folder(project, root)
    cancel = threading.Event()
    cancel.set()  # cancelled before the scan saw most files
    summary = import_folder(project, root, cancel=cancel)
    assert summary.cancelled and summary.missing == 0
    assert project_status(project).missing == 0
