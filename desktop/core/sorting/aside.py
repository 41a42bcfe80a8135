"""Duplicates moved aside: the extra copies of a group go to another folder (``_duplicates`` beside the photos by
default) keeping their folder structure, as a sort — journalled, resumable and undone by ``undo_sort`` like any
other. Which photos are extras is decided by the caller (``core.duplicate_resolving``); this plans the moves.

The moved photos' rows stay at their old place, marked missing, with their labels (the journal's
``SortSettings.set_aside``): they leave the grid, training and checks, and the sort's undo brings them back as
they were. A re-import skips the folder they went to and never marks them present again (``set_aside_now``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from desktop.core.project import Project
from desktop.core.sorting.model import MOVE, OpState, SortError, SortPlan, SortStatus
from desktop.core.sorting.placing import (
    MISSING,
    SAME_FILE,
    FreeNames,
    Links,
    file_now,
    place,
    travelling_companions,
)
from desktop.core.sorting.settings import SortSettings
from desktop.db.models import Folder, Image, Sort, SortOperation
from desktop.db.queries import in_chunks, with_folder
from desktop.io.companions import FolderListings
from desktop.io.file_names import safe_folder_name

ASIDE_FOLDER = "_duplicates"


def default_destination(project: Project, image_ids: Sequence[int]) -> Path:
    """``_duplicates`` beside the project folder that holds the first of these photos (inside it when that
    folder is the top of its drive)."""
    with project.sessions() as session:
        root = session.scalar(select(Folder.root).join(Image, Image.folder_id == Folder.id)
                              .where(Image.id.in_(list(image_ids)[:1])))
    if root is None:
        raise SortError("There are no photos to move aside.")
    root = Path(root)
    return (root if root.parent == root else root.parent) / ASIDE_FOLDER


def plan_aside(project: Project, extras: Sequence[int], destination: Path | str, keeper: str | None = None) -> SortPlan:
    """Where each of ``extras`` (image ids) and its companions would go under ``destination``: its path relative
    to its project folder (under that folder's name when the extras come from several folders), never over an
    existing file. Reads only."""
    destination = _checked(project, destination)
    plan = SortPlan(destination, MOVE, 0.0, False, None, set_aside=True, keeper=keeper)
    with project.sessions() as session:
        rows = []
        for chunk in in_chunks(list(dict.fromkeys(extras))):
            rows.extend(session.execute(
                with_folder(select(Image.id, Folder.root, Image.rel_path, Image.size, Image.mtime,
                                   Image.content_hash, Image.error, Image.missing)).where(Image.id.in_(chunk))))
        names = FreeNames.below(session, destination)
    rows.sort(key=lambda row: (row.root, row.rel_path))
    several = len({row.root for row in rows}) > 1
    listings = FolderListings()
    seen: set[tuple[int, int]] = set()
    for row in rows:
        source = Path(row.root) / row.rel_path
        if row.missing:
            plan.skipped.append((source, MISSING))
            continue
        if source.is_relative_to(destination):
            plan.already_sorted += 1
            continue
        photo = file_now(source, row, seen, Links.NOT_FILES)
        if photo == SAME_FILE:
            continue  # an extra listed twice (nested folders, a folder added through a link) moves once
        if isinstance(photo, str):
            plan.skipped.append((source, photo))
            continue
        relative = Path(row.rel_path)
        folder = destination / (safe_folder_name(Path(row.root).name) if several else "") / relative.parent
        place(plan, names, photo, row.id, folder, ASIDE_FOLDER, "duplicate", None,
              travelling_companions(source, listings, seen, plan))
    plan.per_class = {ASIDE_FOLDER: len(plan.photos)} if plan.photos else {}
    return plan


def _checked(project: Project, raw: Path | str) -> Path:
    if not str(raw).strip():
        raise SortError("The folder to move the duplicates to is empty: name one.")
    destination = Path(raw).expanduser().resolve()
    if destination == project.path or destination.is_relative_to(project.path):
        raise SortError(f"{destination} is inside the project folder; choose a folder outside it.")
    if destination.exists() and not destination.is_dir():
        raise SortError(f"Cannot move the duplicates to {destination}: it is a file, not a folder.")
    return destination


@dataclass(frozen=True)
class SetAside:
    """What duplicates moved aside (and not put back) mean for an import: folders to skip, rows to keep missing."""

    destinations: tuple[Path, ...]
    image_ids: frozenset[int]


def set_aside_ids() -> Select:
    """The ids of the photos moved aside and not put back, as a sub-query: the grid's views leave them out (their
    rows are missing photos kept only for the undo)."""
    return (select(SortOperation.image_id).join(Sort, Sort.id == SortOperation.sort_id)
            .where(Sort.status != SortStatus.UNDONE, func.json_extract(Sort.settings, "$.set_aside") == 1,
                   SortOperation.state.in_((OpState.DONE, OpState.UNDOING)), SortOperation.image_id.is_not(None)))


def is_set_aside():
    """A photo moved aside and not put back (its row stays, missing, for the undo): resolved, not lost — the
    counts and views leave it out of the missing photos."""
    return Image.missing.is_(True) & Image.id.in_(set_aside_ids())


def set_aside_now(session: Session) -> SetAside:
    destinations: list[Path] = []
    sort_ids: list[int] = []
    for sort_id, destination, settings in session.execute(
            select(Sort.id, Sort.destination, Sort.settings).where(Sort.status != SortStatus.UNDONE)):
        if SortSettings.from_dict(settings).set_aside:
            destinations.append(Path(destination))
            sort_ids.append(sort_id)
    image_ids: set[int] = set()
    for chunk in in_chunks(sort_ids):
        image_ids.update(session.scalars(select(SortOperation.image_id).where(
            SortOperation.sort_id.in_(chunk), SortOperation.image_id.is_not(None),
            SortOperation.state.in_((OpState.STARTED, OpState.DONE, OpState.UNDOING)))))
    return SetAside(tuple(dict.fromkeys(destinations)), frozenset(image_ids))
