"""Hostile photo folders and failing project disks: no input hangs, exhausts memory or poisons the project."""

from __future__ import annotations

import io
import os
import sqlite3
import sys
from pathlib import Path

import imagemakers as mk
import pytest
from PIL import Image as PILImage
from sqlalchemy import event, func, select, text

from desktop.core import importer
from desktop.core.classes import list_classes
from desktop.core.importer import import_folder
from desktop.core.project import Project, open_project
from desktop.core.status import project_status
from desktop.db.engine import DatabaseError
from desktop.db.models import Image
from desktop.io import images
from desktop.io.thumbnails import ThumbnailStore

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")


def _photos(root: Path, count: int, size: tuple[int, int] = (40, 30)) -> Path:
    for index in range(count):
        mk.write_jpeg(root / f"{index:03d}.jpg", *size, seed=index)
    return root


def _heic_bytes() -> bytes:
    """The start of an iPhone HEIC file: an ISO media ``ftyp`` box with the heic brand, then a meta box."""
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x00\x40meta" + b"\x00" * 200


# --- files that are not photos, or not regular files ------------------------------------------------------------

@posix_only
def test_fifo_device_and_sparse_giant_are_listed_and_the_rest_imported(project: Project, tmp_path: Path,
                                                                       hang_guard) -> None:
    root = _photos(tmp_path / "photos", 3)
    os.mkfifo(root / "photo.jpg")  # the bug: open() waited for a writer forever
    (root / "zero.jpg").symlink_to("/dev/zero")  # the bug: read until MemoryError, nothing imported
    with open(root / "giant.jpg", "wb") as handle:
        handle.truncate(20 * 1024**3)
    mk.write(root / "IMG_0001.HEIC", _heic_bytes())
    summary = import_folder(project, root)
    assert (summary.imported, summary.broken) == (3, 4)
    reasons = dict(summary.broken_files)
    assert reasons == {
        "photo.jpg": "cannot read the file: it is a named pipe (FIFO), not a regular file",
        "zero.jpg": "cannot read the file: it is a device, not a regular file",
        "giant.jpg": "refused: the file is 20 GB, above the 512 MB limit",
        "IMG_0001.HEIC": "the HEIC photo is damaged or cut short",
    }
    status = project_status(project)
    assert (status.images, status.broken) == (3, 4)
    assert {Path(entry["path"]).name for entry in status.broken_files} == set(reasons)


def test_one_file_that_breaks_the_reader_does_not_stop_the_import(project: Project, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = _photos(tmp_path / "photos", 3)
    real = images.content_hash

    def exploding(data: bytes) -> str:
        if data == (root / "001.jpg").read_bytes():
            raise MemoryError("no memory left")
        return real(data)

    monkeypatch.setattr(images, "content_hash", exploding)
    summary = import_folder(project, root)
    assert (summary.imported, summary.broken) == (2, 1)
    assert "MemoryError" in dict(summary.broken_files)["001.jpg"]


def test_a_cut_off_heic_and_heif_are_listed_as_damaged_and_avif_is_imported(project: Project,
                                                                           tmp_path: Path) -> None:
    root = tmp_path / "photos"
    mk.write(root / "a.heic", _heic_bytes())
    mk.write(root / "b.HEIF", _heic_bytes())
    buffer = io.BytesIO()
    PILImage.fromarray(mk.photo_array(60, 40)).save(buffer, "AVIF")
    mk.write(root / "c.avif", buffer.getvalue())
    summary = import_folder(project, root)
    damaged = "the HEIC photo is damaged or cut short"
    assert dict(summary.broken_files) == {"a.heic": damaged, "b.HEIF": damaged}
    assert summary.imported == 1
    with project.sessions() as session:
        assert session.execute(select(Image.width, Image.height).where(Image.rel_path == "c.avif")).one() == (60, 40)


# --- a thumbnail cache that cannot be written ---------------------------------------------------------------------

def _thumbnail_count(store: ThumbnailStore) -> int:
    return len(store.existing())


def test_a_file_where_the_cache_folder_should_be_breaks_no_photo(project: Project, tmp_path: Path,
                                                                count_reads: list[str]) -> None:
    root = _photos(tmp_path / "photos", 6)
    project.thumbnails.directory.write_bytes(b"in the way")  # the cache folder is a file
    summary = import_folder(project, root)
    # The bug: most photos were marked broken, for good (a re-scan said "unchanged").
    assert (summary.imported, summary.broken, summary.broken_files) == (6, 0, [])
    assert summary.cache_warning is not None and summary.cache_warning.count(".") == 1 + str(
        project.thumbnails.directory).count(".")  # one sentence
    assert summary.cache_warning.startswith(f"The thumbnail cache {project.thumbnails.directory} cannot be "
                                            "written (a file is where its folder should be); the photos were")
    status = project_status(project)
    assert (status.images, status.broken) == (6, 0)

    count_reads.clear()
    again = import_folder(project, root)  # still broken: nothing is re-read in vain, and the user is told again
    assert count_reads == [] and again.unchanged == 6
    assert again.cache_warning == summary.cache_warning

    project.thumbnails.directory.unlink()  # the cache works again
    count_reads.clear()
    healed = import_folder(project, root)
    assert (healed.imported, healed.unchanged, healed.broken, healed.cache_warning) == (0, 6, 0, None)
    assert sorted(count_reads) == [f"{index:03d}.jpg" for index in range(6)]
    assert _thumbnail_count(project.thumbnails) == 6
    count_reads.clear()
    import_folder(project, root)
    assert count_reads == []  # and from then on, nothing is read again


def test_an_unwritable_cache_breaks_no_photo(project: Project, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """As a user without write permission (root ignores chmod, so the write itself is made to fail)."""
    root = _photos(tmp_path / "photos", 4)

    def denied(self, content_hash: str, jpeg: bytes) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ThumbnailStore, "put", denied)
    summary = import_folder(project, root)
    assert (summary.imported, summary.broken) == (4, 0)
    assert "(Permission denied)" in summary.cache_warning
    monkeypatch.undo()
    import_folder(project, root)
    assert _thumbnail_count(project.thumbnails) == 4


# --- two processes --------------------------------------------------------------------------------------------

def _cli(*args: str, env: dict | None = None):
    import subprocess

    return subprocess.run([sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_a_second_import_says_the_project_is_busy(project: Project, tmp_path: Path) -> None:
    from desktop.io.locks import exclusive_lock

    root = _photos(tmp_path / "photos", 2)
    with exclusive_lock(project.import_lock_path, "held by the test"):  # as an import in this process does
        result = _cli("import", str(project.path), str(root))
    assert result.returncode == 1
    assert result.stderr.strip() == ("pigeonhole: error: Another Pigeonhole is importing into this project; "
                                     "try again when it has finished.")
    assert project_status(project).images == 0
    assert _cli("import", str(project.path), str(root)).returncode == 0  # free again
    assert project_status(project).images == 2


RACE_HELPER = """
import contextlib, sys, time
from pathlib import Path
from desktop.core import importer
from desktop.core.project import open_project

importer.COMMIT_EVERY = 1
importer.exclusive_lock = lambda *a, **k: contextlib.nullcontext()  # as if two GUIs raced past the lock
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.01)
with open_project(sys.argv[1], create=False) as project:
    summary = importer.import_folder(project, sys.argv[2], labels_from_subfolders=True, workers=1)
print(summary.imported + summary.unchanged)
"""


def test_two_processes_importing_at_once_never_collide(project: Project, tmp_path: Path) -> None:
    """Without the import lock (a GUI and a CLI, say) the upserts themselves must not raise IntegrityError."""
    import subprocess

    root = tmp_path / "photos"
    for index in range(40):
        mk.write_jpeg(root / ("cats" if index % 2 else "dogs") / f"{index:02d}.jpg", 24, 16, seed=index)
    go = tmp_path / "go"
    script = tmp_path / "race.py"
    script.write_text(RACE_HELPER)
    racers = [subprocess.Popen([sys.executable, str(script), str(project.path), str(root), str(go)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    outputs = [racer.communicate(timeout=120) for racer in racers]
    for racer, (stdout, stderr) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, stderr
        assert stdout.strip() == "40"
    with project.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 40
        assert session.scalar(text("SELECT count(*) FROM labels")) == 40
    assert sorted(c.name for c in list_classes(project)) == ["cats", "dogs"]


# --- a full disk ----------------------------------------------------------------------------------------------

def test_database_full_mid_import_is_one_sentence_and_keeps_the_database_consistent(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's own "database or disk is full" (a page limit stands in for the disk), mid-import."""
    monkeypatch.setattr(importer, "COMMIT_EVERY", 5)
    root = tmp_path / "photos"
    for index in range(120):
        mk.write(root / f"{'long-name-' * 20}{index:03d}.jpg", mk.jpeg_bytes(mk.photo_array(16, 12, seed=index)))
    with project.engine.connect() as connection:
        pages = connection.execute(text("PRAGMA page_count")).scalar()

    def small_disk(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages + 6}")

    event.listen(project.engine, "connect", small_disk)
    project.engine.dispose()  # every new connection gets the limit
    with pytest.raises(DatabaseError) as caught:
        import_folder(project, root)
    assert str(caught.value) == (f"The disk holding the project database {project.db_path} is full; free some "
                                 "space and try again (everything saved before this is kept).")
    event.remove(project.engine, "connect", small_disk)
    project.engine.dispose()
    with project.sessions() as session:
        assert session.scalar(text("PRAGMA integrity_check")) == "ok"
        stored = session.scalar(select(func.count()).select_from(Image))
    assert 0 < stored < 120 and stored % 5 == 0  # whole batches only: the failed one was rolled back
    summary = import_folder(project, root)  # space again: the rest comes in
    assert (summary.imported, summary.unchanged) == (120 - stored, stored)


def _mount_tmpfs(where: Path, size: str) -> bool:
    import subprocess

    where.mkdir(parents=True, exist_ok=True)
    if not mk.is_root():
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


@posix_only
def test_a_really_full_disk_under_the_project(tmp_path: Path) -> None:
    """A real tiny file system (tmpfs, needs root and mount rights): the CLI says one sentence or warns."""
    import subprocess

    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "3m"):
        pytest.skip("cannot mount a tmpfs here (needs root with mount rights); the page-limit test covers SQLite")
    try:
        root = _photos(tmp_path / "photos", 60, size=(120, 90))
        open_project(disk / "p.pigeonhole").close()
        with open(disk / "filler", "wb") as filler:  # fill the disk to the last block
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        result = _cli("import", str(disk / "p.pigeonhole"), str(root))
        assert "Traceback" not in result.stderr
        if result.returncode:
            assert result.stderr.startswith("pigeonhole: error: The disk holding the project database")
            assert result.stderr.count("\n") == 1
        else:  # SQLite found room in its journal: the photos are in, without thumbnails
            assert "thumbnail cache" in result.stderr
        (disk / "filler").unlink()
        assert _cli("import", str(disk / "p.pigeonhole"), str(root)).returncode == 0
        with sqlite3.connect(disk / "p.pigeonhole" / "project.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute("SELECT count(*) FROM images WHERE error IS NULL").fetchone() == (60,)
        assert len(ThumbnailStore(disk / "p.pigeonhole" / "thumbnails").existing()) == 60
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# --- what a project's disk or files can be ----------------------------------------------------------------------

def test_a_database_that_turns_read_only_is_one_sentence(project: Project) -> None:
    """SQLite opened read-only (mode=ro) stands in for a file made read-only while the project is open."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from desktop.db.engine import transaction

    engine = create_engine(f"sqlite:///file:{project.db_path}?mode=ro&uri=true")
    try:
        with (pytest.raises(DatabaseError, match=r"^The project database .*project\.db is read-only; make it"),
              transaction(sessionmaker(engine)) as session):
            session.execute(text("INSERT INTO classes (name, colour, position, created_at) "
                                 "VALUES ('x', '#000000', 0, '2020-01-01')"))
    finally:
        engine.dispose()
