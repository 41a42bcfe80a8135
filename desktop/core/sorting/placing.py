"""Placing a photo in a plan, one way for a sort by class (``plan``) and for duplicates moved aside (``aside``):
the photo's file as it is now, or why it cannot go; the companions that travel with it; and one free stem for
them all in their folder, never a name that exists on disk, in the project, or earlier in the plan. Reads only."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.core.sorting.folders import ProjectFolders
from desktop.core.sorting.model import PlannedOperation, SortPlan, os_error_reason
from desktop.db.models import Image
from desktop.io.companions import Companion, FolderListings, companions_of
from desktop.io.file_names import name_key, numbered
from desktop.io.safe_files import hash_file

MISSING = "it was missing when its folder was last scanned"
SAME_FILE = "it is the same file as another selected image"


class ImageRow(Protocol):
    """What the project recorded of a photo when it was imported (a row of ``Image``)."""

    @property
    def id(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime(self) -> float: ...
    @property
    def content_hash(self) -> str: ...


class Links(Enum):
    """What a symbolic link in a photo's place means for the plan."""

    FOLLOWED = "followed"  # a copy reads the photo it points to
    REFUSED = "refused"  # a move would move the link, not the photo: the user is told to copy instead
    NOT_FILES = "not files"  # moving aside: a link is not a regular file, and is never followed


@dataclass(frozen=True, slots=True)
class FileNow:
    """A photo's file as the plan found it: its stat and its content hash."""

    path: Path
    info: os.stat_result
    digest: str


# A companion that travels with its photo, with its stat and content hash.
Travelling = tuple[Companion, os.stat_result, str]


def file_now(source: Path, row: ImageRow, seen: set[tuple[int, int]], links: Links) -> FileNow | str:
    """The photo at ``source`` as it is now, or why it cannot go (``SAME_FILE``: one already in the plan).
    ``seen`` holds the files already planned, by identity (device, inode); this one joins them."""
    try:
        info = os.lstat(source) if links is Links.NOT_FILES else os.stat(source)
        if not stat.S_ISREG(info.st_mode):
            return "it is not a regular file"
        if links is Links.REFUSED and os.path.islink(source):
            return "it is a symbolic link; sort it with “copy” instead"
        # Nested project folders, or a folder added again through a link, list one file twice. Told by identity,
        # not by name: IMG_1.jpg and img_1.JPG are two photos on a case-sensitive drive.
        if (info.st_dev, info.st_ino) in seen:
            return SAME_FILE
        seen.add((info.st_dev, info.st_ino))
        # Size and time unchanged since the import: the stored hash is current, no need to read the file.
        unchanged = info.st_size == row.size and info.st_mtime == row.mtime
        return FileNow(source, info, row.content_hash if unchanged else hash_file(source))
    except FileNotFoundError:
        return "the file no longer exists"
    except OSError as exc:
        return f"cannot read it: {os_error_reason(exc)}"


def travelling_companions(source: Path, listings: FolderListings, seen: set[tuple[int, int]],
                          plan: SortPlan) -> list[Travelling]:
    """The companions that travel with ``source`` (with what they are now); one that cannot go is named in
    ``plan.skipped`` and stays where it is."""
    found = []
    for companion in companions_of(source, listings.near(source)):
        try:
            info = os.lstat(companion.path)
            if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) in seen:
                continue
            digest = hash_file(companion.path)
        except OSError as exc:
            plan.skipped.append((companion.path, f"it travels with {source.name} but cannot be read: "
                                                 f"{os_error_reason(exc)}"))
            continue
        seen.add((info.st_dev, info.st_ino))
        found.append((companion, info, digest))
    return found


class FreeNames:
    """Free file names per folder: never one that exists on disk, in the project, or earlier in the plan."""

    def __init__(self, indexed: dict[str, set[str]]) -> None:
        self._indexed = indexed
        self._taken: dict[str, set[str]] = {}

    @classmethod
    def below(cls, session: Session, destination: Path) -> FreeNames:
        """Free names below ``destination``, where the project's own names count as taken even for files now
        missing: a photo moved there must not take the path of another image row (and inherit its label when
        the folder is scanned again)."""
        names: dict[str, set[str]] = {}
        for folder_id, root in ProjectFolders.load(session).touching(destination):
            for rel_path in session.scalars(select(Image.rel_path).where(Image.folder_id == folder_id)):
                path = root / rel_path
                if path.is_relative_to(destination):
                    names.setdefault(name_key(str(path.parent)), set()).add(name_key(path.name))
        return cls(names)

    def allocate(self, directory: Path, name: str, companions: Sequence[str] = ()) -> Path:
        """A free name for ``name`` in ``directory``; with ``companions`` (what follows the stem in each
        companion's name: ``.CR2``, ``.CR2.xmp``) one whose stem is free for all of them too."""
        key = name_key(str(directory))
        taken = self._taken.get(key)
        if taken is None:
            taken = set(self._indexed.get(key, ()))
            with contextlib.suppress(OSError):  # a folder that does not exist yet holds nothing
                taken.update(name_key(entry) for entry in os.listdir(directory))
            self._taken[key] = taken
        suffix = os.path.splitext(name)[1]
        candidate, number = name, 1
        while True:
            stem = candidate[:len(candidate) - len(suffix)]
            group = [name_key(candidate), *(name_key(stem + tail) for tail in companions)]
            if not any(key in taken for key in group):
                break
            number += 1
            candidate = numbered(name, number)
        taken.update(group)
        return directory / candidate


def place(plan: SortPlan, names: FreeNames, photo: FileNow, image_id: int, folder: Path, class_name: str, why: str,
          confidence: float | None, companions: Sequence[Travelling],
          selected: Mapping[Path, ImageRow] | None = None) -> None:
    """The photo's operation into ``folder`` under a free name, then each companion's beside it under the same new
    stem, led by the photo. A companion that is a selected photo itself (a RAW+JPEG twin) keeps its image id."""
    source = photo.path
    target = names.allocate(folder, source.name, [companion.suffix_after(source.stem)
                                                  for companion, _info, _digest in companions])
    leader = len(plan.operations)
    plan.operations.append(PlannedOperation(image_id, source, target, class_name, photo.digest, photo.info.st_size,
                                            why, confidence))
    new_stem = target.name[:len(target.name) - len(source.suffix)] if source.suffix else target.name
    for companion, companion_info, companion_digest in companions:
        twin = selected.get(companion.path) if selected else None
        plan.operations.append(PlannedOperation(
            twin.id if twin is not None else None, companion.path,
            folder / (new_stem + companion.suffix_after(source.stem)), class_name, companion_digest,
            companion_info.st_size, "companion", None, leader))
        plan.companions += 1
