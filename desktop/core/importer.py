"""Add a folder to a project: scan, hash, probe and thumbnail new or changed files in parallel.

Decoding dominates (tens of ms per large JPEG); OpenCV and hashlib release the GIL, so a thread pool
scales across cores while the calling thread alone talks to the database.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import insert

from desktop.core.classes import ClassError, ensure_class
from desktop.core.project import Project
from desktop.core.sorting.aside import set_aside_now
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image, Label
from desktop.db.queries import in_chunks
from desktop.errors import PigeonholeError
from desktop.io import images
from desktop.io.locks import exclusive_lock
from desktop.io.scan import FoundFile, scan_images
from desktop.io.thumbnails import ThumbnailStore
from desktop.progress import CancelToken, NeverCancel

COMMIT_EVERY = 200
IMPORT_BUSY = "Another Pigeonhole is importing into this project; try again when it has finished."


class FolderNotFound(PigeonholeError, FileNotFoundError):
    """The folder to import is not there (or is not a folder)."""


@dataclass
class ImportProgress:
    folder: str
    seen: int = 0  # image files found by the scan so far
    to_process: int = 0  # of those, new or changed files that must be read
    processed: int = 0
    imported: int = 0  # new or changed files now in the project and readable
    unchanged: int = 0
    broken: int = 0
    missing: int = 0
    scanning: bool = True


@dataclass
class ImportSummary:
    folder: str
    folder_id: int
    imported: int
    unchanged: int
    broken: int
    missing: int
    labelled: int
    cancelled: bool
    seconds: float
    broken_files: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    class_warnings: list[str] = field(default_factory=list)
    # One sentence when thumbnails could not be written: the photos are imported all the same.
    cache_warning: str | None = None


@dataclass(frozen=True, slots=True)
class _Processed:
    found: FoundFile
    content_hash: str
    width: int | None
    height: int | None
    error: str | None  # the photo cannot be used: why
    cache_error: str | None = None  # the photo is fine but its thumbnail could not be written: why


def _process(root: Path, found: FoundFile, thumbnails: ThumbnailStore) -> _Processed:
    """Runs in a pool thread: read once, hash, probe the header, write the thumbnail if new.

    Never raises: whatever goes wrong with one file (a pipe, a device, a 20 GB file, a decoder crash, memory)
    becomes that file's reason, so one bad file never stops an import.
    """
    digest = ""
    try:
        data = images.read_bytes(root / found.rel_path)
        digest = images.content_hash(data)
        info = images.probe(data)
        if thumbnails.has(digest):
            return _Processed(found, digest, info.width, info.height, None)
        jpeg = images.make_thumbnail(data, info)
    except images.ImageError as exc:
        return _Processed(found, digest, None, None, str(exc))
    except Exception as exc:  # OpenCV or memory gave up: record it, never stop the import
        return _Processed(found, digest, None, None, f"cannot be decoded ({type(exc).__name__}: {exc})")
    try:
        thumbnails.put(digest, jpeg)
    except OSError as exc:  # the cache's problem, not the photo's
        return _Processed(found, digest, info.width, info.height, None, exc.strerror or type(exc).__name__)
    return _Processed(found, digest, info.width, info.height, None)


def cache_warning(thumbnails: ThumbnailStore, reason: str) -> str:
    if thumbnails.directory.exists() and not thumbnails.directory.is_dir():
        reason = "a file is where its folder should be"  # clearer than the system's "File exists"
    return (f"The thumbnail cache {thumbnails.directory} cannot be written ({reason}); the photos were imported "
            "without thumbnails, and a re-scan makes them once the cache works again.")


def import_folder(
    project: Project,
    root: Path | str,
    *,
    labels_from_subfolders: bool = False,
    on_progress: Callable[[ImportProgress], None] | None = None,
    cancel: CancelToken | None = None,
    workers: int | None = None,
) -> ImportSummary:
    """Import or re-scan ``root``: new and changed files are read; unchanged ones are not touched (unless their
    thumbnail is missing, when it is made again).

    One import at a time per project, across processes: a second raises :class:`desktop.io.locks.Busy`.
    """
    started = time.perf_counter()
    cancel = cancel or NeverCancel()
    report = on_progress or (lambda _progress: None)
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FolderNotFound(f"{root} is not a folder.")
    with exclusive_lock(project.import_lock_path, IMPORT_BUSY):
        return _import_locked(project, root, labels_from_subfolders, report, cancel, workers, started)


def _import_locked(project: Project, root: Path, labels_from_subfolders: bool,
                   report: Callable[[ImportProgress], None], cancel: CancelToken, workers: int | None,
                   started: float) -> ImportSummary:
    asked_for_labels = labels_from_subfolders
    folder_id, labels_from_subfolders = _ensure_folder(project, root, labels_from_subfolders)
    progress = ImportProgress(folder=str(root))

    with project.sessions() as session:
        known = {
            row.rel_path: (row.id, row.size, row.mtime, row.missing, row.content_hash if row.error is None else None)
            for row in session.execute(
                select(Image.rel_path, Image.id, Image.size, Image.mtime, Image.missing, Image.content_hash,
                       Image.error).where(Image.folder_id == folder_id)
            )
        }
        aside = set_aside_now(session)  # duplicates moved aside: their folder is not scanned, their rows stay out
    # Usable photos whose thumbnail is gone (the cache failed or was deleted) are read again to make it.
    thumbnailed, cache_problem = _thumbnailed(project.thumbnails, [entry[4] for entry in known.values() if entry[4]])
    found_paths: set[str] = set()
    to_process: list[FoundFile] = []
    to_label: list[FoundFile] = []  # unchanged files, when this call asks for subfolder labels
    thumbnail_only: set[str] = set()  # unchanged files that only need their thumbnail made again
    reappeared: list[int] = []
    for found in scan_images(root, skip=(project.path, *aside.destinations)):
        found_paths.add(found.rel_path)
        progress.seen += 1
        previous = known.get(found.rel_path)
        if previous is not None and previous[1] == found.size and previous[2] == found.mtime:
            progress.unchanged += 1
            if previous[3] and previous[0] not in aside.image_ids:
                reappeared.append(previous[0])
            if asked_for_labels and found.top_folder is not None:
                to_label.append(found)
            if previous[4] and thumbnailed is not None and previous[4] not in thumbnailed:
                thumbnail_only.add(found.rel_path)
                to_process.append(found)
        else:
            to_process.append(found)
        if cancel.is_set():
            break
        if progress.seen % 500 == 0:
            report(progress)
    progress.scanning = False
    progress.to_process = len(to_process)
    gone = [] if cancel.is_set() else [known[path][0] for path in known.keys() - found_paths]
    progress.missing = len(set(gone) - aside.image_ids)  # duplicates moved aside are resolved, not missing
    _set_missing(project, gone, True)
    _set_missing(project, reappeared, False)
    report(progress)

    summary = ImportSummary(str(root), folder_id, 0, progress.unchanged, 0, progress.missing, 0, False, 0.0)
    if cache_problem:
        summary.cache_warning = cache_warning(project.thumbnails, cache_problem)
    pending: list[_Processed] = []
    for result in _process_all(root, to_process, project.thumbnails, cancel, workers):
        progress.processed += 1
        if result.cache_error and summary.cache_warning is None:
            summary.cache_warning = cache_warning(project.thumbnails, result.cache_error)
        if result.found.rel_path in thumbnail_only:
            report(progress)
            continue  # its row is unchanged; only the thumbnail was wanted
        pending.append(result)
        if result.error:
            progress.broken += 1
            summary.broken_files.append((result.found.rel_path, result.error))
        else:
            progress.imported += 1
        if len(pending) >= COMMIT_EVERY:
            summary.labelled += _store(project, folder_id, pending, labels_from_subfolders, summary)
            pending.clear()
        report(progress)
    summary.labelled += _store(project, folder_id, pending, labels_from_subfolders, summary)
    summary.labelled += _label_unchanged(project, folder_id, to_label, summary)
    summary.imported, summary.broken = progress.imported, progress.broken
    summary.cancelled = cancel.is_set()
    summary.seconds = time.perf_counter() - started
    return summary


def _process_all(
    root: Path, files: list[FoundFile], thumbnails: ThumbnailStore, cancel: CancelToken, workers: int | None
) -> Iterator[_Processed]:
    """Process files on a pool, keeping only a bounded number at work so memory stays flat; results come back in
    the files' (scan) order, whichever thread finishes first, so image ids and the classes that subfolder
    labels create follow the folder's order: two imports of one folder number it alike."""
    workers = workers or os.cpu_count() or 2
    window = workers * 4
    queue = iter(files)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import") as pool:
        in_flight: deque[Future[_Processed]] = deque()
        while True:
            # Finished results waiting behind a slow file are small: only the files still at work count against
            # the window (and all of them against a far larger cap), so one big photo does not idle the pool.
            while (sum(not future.done() for future in in_flight) < window and len(in_flight) < window * 64
                   and not cancel.is_set()):
                found = next(queue, None)
                if found is None:
                    break
                in_flight.append(pool.submit(_process, root, found, thumbnails))
            if not in_flight:
                return
            wait([in_flight[0]], timeout=0.5)
            while in_flight and in_flight[0].done():
                yield in_flight.popleft().result()


def _thumbnailed(thumbnails: ThumbnailStore, hashes: list[str]) -> tuple[set[str] | None, str | None]:
    """The hashes that have a thumbnail, or None when none need checking or the cache cannot be written now
    (reading the photos again would only fail again); and then why it cannot."""
    if not hashes:
        return None, None
    existing = thumbnails.existing()
    if all(digest in existing for digest in hashes):
        return existing, None
    try:
        thumbnails.check_writable()
    except OSError as exc:
        return None, exc.strerror or type(exc).__name__
    return existing, None


def _ensure_folder(project: Project, root: Path, labels_from_subfolders: bool) -> tuple[int, bool]:
    """The folder's id, and whether its subfolder names are labels (remembered for later re-scans)."""
    with transaction(project.sessions, immediate=True) as session:
        folder = session.scalar(select(Folder).where(Folder.root == str(root)))
        if folder is None:
            folder = Folder(root=str(root), labels_from_subfolders=labels_from_subfolders)
            session.add(folder)
            session.flush()
        elif labels_from_subfolders:
            folder.labels_from_subfolders = True
        return folder.id, folder.labels_from_subfolders


def _set_missing(project: Project, image_ids: list[int], missing: bool) -> None:
    if image_ids:
        with transaction(project.sessions) as session:
            session.execute(update(Image).where(Image.id.in_(image_ids)).values(missing=missing))


def _label_unchanged(project: Project, folder_id: int, files: list[FoundFile], summary: ImportSummary) -> int:
    """Subfolder labels for files imported earlier without them; images that have a label keep it."""
    by_class: dict[str, list[str]] = {}
    for found in files:
        by_class.setdefault(found.top_folder or "", []).append(found.rel_path)
    labelled = 0
    with transaction(project.sessions, immediate=True) as session:
        for class_name, paths in by_class.items():
            ids = [
                image_id
                for chunk in in_chunks(paths)
                for image_id in session.scalars(
                    select(Image.id)
                    .outerjoin(Label, Label.image_id == Image.id)
                    .where(Image.folder_id == folder_id, Image.rel_path.in_(chunk),
                           Image.error.is_(None), Label.image_id.is_(None))
                )
            ]
            if not ids:
                continue
            try:
                class_id = ensure_class(session, class_name).id
            except ClassError as exc:
                summary.class_warnings.append(str(exc))
                continue
            labelled += _add_folder_labels(session, ids, class_id)
    return labelled


def _add_folder_labels(session, image_ids: list[int], class_id: int) -> int:
    """Label the images that still have no label (a label set meanwhile, by hand or elsewhere, is kept)."""
    if not image_ids:
        return 0
    added = session.execute(
        insert(Label).values([{"image_id": image_id, "class_id": class_id, "source": "folder"}
                              for image_id in image_ids])
        .on_conflict_do_nothing(index_elements=[Label.image_id]).returning(Label.image_id))
    return len(added.all())


def _upsert_image_statement():
    statement = insert(Image)
    return statement.on_conflict_do_update(
        index_elements=[Image.folder_id, Image.rel_path],
        set_={name: statement.excluded[name]
              for name in ("size", "mtime", "content_hash", "width", "height", "error", "missing")})


_UPSERT_IMAGE = _upsert_image_statement()


def _store(
    project: Project, folder_id: int, batch: list[_Processed], labels_from_subfolders: bool,
    summary: ImportSummary,
) -> int:
    """Upsert a batch of processed files in one transaction; returns how many labels it added.

    INSERT ... ON CONFLICT: a row another process (the GUI and a CLI) inserted meanwhile is updated, never a
    unique-constraint error; the write lock is taken first, so the class lookups below cannot race either.
    """
    if not batch:
        return 0
    labelled = 0
    with transaction(project.sessions, immediate=True) as session:
        rows = [{"folder_id": folder_id, "rel_path": item.found.rel_path, "size": item.found.size,
                 "mtime": item.found.mtime, "content_hash": item.content_hash, "width": item.width,
                 "height": item.height, "error": item.error, "missing": False} for item in batch]
        session.execute(_UPSERT_IMAGE, rows)  # executemany of one cached statement
        if not labels_from_subfolders:
            return 0
        by_class: dict[str, list[str]] = {}
        # Results arrive in scan order (names compared case-insensitively); path order within the batch makes
        # "Cat/ and cat/ are one class, named as first seen" the same on every run.
        for item in sorted(batch, key=lambda processed: processed.found.rel_path):
            if item.found.top_folder is not None and not item.error:
                by_class.setdefault(item.found.top_folder, []).append(item.found.rel_path)
        for class_name, paths in by_class.items():
            try:
                class_id = ensure_class(session, class_name).id
            except ClassError as exc:
                summary.class_warnings.append(str(exc))
                continue
            ids = list(session.scalars(
                select(Image.id).where(Image.folder_id == folder_id, Image.rel_path.in_(paths))))
            # A label the user set by hand is never replaced by a folder name.
            labelled += _add_folder_labels(session, ids, class_id)
    return labelled
