"""The folders a project indexes, and re-linking a folder that moved (paths inside stay relative)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, update

from desktop.core.project import Project
from desktop.core.sorting.aside import is_set_aside
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image
from desktop.db.queries import in_chunks
from desktop.errors import PigeonholeError


class FolderError(PigeonholeError):
    """A folder operation was refused; the message is for the user."""


@dataclass(frozen=True, slots=True)
class FolderInfo:
    id: int
    root: Path
    images: int
    available: bool  # False when the drive or folder is gone: offer to re-link it

    @property
    def name(self) -> str:
        return self.root.name or str(self.root)


def list_folders(project: Project) -> list[FolderInfo]:
    with project.sessions() as session:
        rows = session.execute(
            select(Folder.id, Folder.root, func.count(Image.id))
            .outerjoin(Image, (Image.folder_id == Folder.id) & ~is_set_aside())  # resolved, not the folder's
            .group_by(Folder.id)
            .order_by(Folder.root)
        ).all()
    return [FolderInfo(folder_id, Path(root), count, Path(root).is_dir()) for folder_id, root, count in rows]


def relink_folder(project: Project, folder_id: int, new_root: Path | str) -> int:
    """Point a folder at its new location; returns how many of its images were found there. Refused when none
    of its photos is there (a wrong folder would mark every photo missing)."""
    new_root = _resolved(new_root)
    if not new_root.is_dir():
        raise FolderError(f"{new_root} is not a folder.")
    with transaction(project.sessions) as session:
        if session.scalar(select(Folder.id).where(Folder.root == str(new_root), Folder.id != folder_id)):
            raise FolderError(f"{new_root} is already in this project.")
        rel_paths = session.execute(select(Image.id, Image.rel_path).where(Image.folder_id == folder_id)).all()
        there = {image_id: _is_file(new_root / rel) for image_id, rel in rel_paths}
        present = [image_id for image_id, found in there.items() if found]
        absent = [image_id for image_id, found in there.items() if not found]
        if rel_paths and not present:
            raise FolderError(f"None of the folder's {len(rel_paths)} photos is in {new_root}, so it was not "
                              "re-linked there; choose the folder that holds them.")
        session.execute(update(Folder).where(Folder.id == folder_id).values(root=str(new_root)))
        for ids, missing in ((present, False), (absent, True)):
            for chunk in in_chunks(ids):
                session.execute(update(Image).where(Image.id.in_(chunk)).values(missing=missing))
    return len(present)


def _resolved(path: Path | str) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except RuntimeError as exc:  # Python 3.11: a loop of symbolic links
        raise FolderError(f"{path} goes through a loop of symbolic links.") from exc


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for this system, say: not there
        return False


@dataclass(frozen=True, slots=True)
class Relinked:
    folder_id: int
    old_root: Path
    new_root: Path
    photos: int  # the folder's indexed photos
    found: int  # of them, present under new_root (the others are marked missing)


def relink_root(project: Project, old_root: Path | str, new_root: Path | str) -> Relinked:
    """The folder indexed as ``old_root`` is now at ``new_root`` (the project copied to a server, a renamed
    disk): one update, labels and predictions kept. Refused with one sentence when ``old_root`` is no folder of
    the project, or ``new_root`` does not exist or is already indexed (the same folder, or inside or around one)."""
    folders = list_folders(project)
    old = Path(old_root).expanduser()
    spellings = {str(old), str(old.absolute()), str(old.resolve())}  # OLD may be gone: no resolving it strictly
    folder = next((info for info in folders if str(info.root) in spellings), None)
    if folder is None:
        raise FolderError(f"{old} is not a folder of this project (`pigeonhole folders PROJECT` lists them).")
    new = _resolved(new_root)
    if not new.exists():
        raise FolderError(f"{new} does not exist.")
    for other in folders:
        if other.id != folder.id and (other.root == new or other.root in new.parents or new in other.root.parents):
            raise FolderError(f"{new} is already indexed by this project (with the folder {other.root}).")
    found = relink_folder(project, folder.id, new)
    return Relinked(folder.id, folder.root, new, folder.images, found)


def remove_folder(project: Project, folder_id: int) -> None:
    """Forget a folder and its images' labels in this project; files on disk are not touched."""
    with transaction(project.sessions) as session:
        folder = session.get(Folder, folder_id)
        if folder is not None:
            session.delete(folder)
