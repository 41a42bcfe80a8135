"""Walk a folder for image files without following symlink loops or reading file contents."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from desktop.io.images import IMAGE_EXTENSIONS, LISTED_EXTENSIONS


@dataclass(frozen=True, slots=True)
class FoundFile:
    rel_path: str  # POSIX separators, relative to the scanned root
    size: int
    mtime: float

    @property
    def top_folder(self) -> str | None:
        """The first path component when the file is inside a subfolder (the class name in class/img.jpg)."""
        parts = PurePosixPath(self.rel_path).parts
        return parts[0] if len(parts) > 1 else None


def scan_images(root: Path, skip: tuple[Path, ...] = ()) -> Iterator[FoundFile]:
    """Yield every image file below ``root`` (extensions compared case-insensitively), HEIC/AVIF and camera
    RAW included. Anything named like a photo is yielded, even a named pipe
    or a device: the reader refuses what is not a regular file, so the user sees why it was left out.

    Hidden files and folders (dot-names, such as macOS ``._photo.jpg`` resource forks) are skipped, as
    are the folders in ``skip`` (a project folder inside the scanned tree). Directories are identified by
    (device, inode) so a symlink loop is entered once.

    What cannot even be looked at, a photo or a folder whose path is longer than the system allows (PATH_MAX),
    is yielded too (size 0), so that reading it fails with that reason and the photo is listed, not lost
    silently; only files that vanished (or dangling links) are left out.
    """
    root = root.resolve()
    skip_ids = {_dir_id(path) for path in skip if path.is_dir()}
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            identity = _dir_id(directory)
            if identity in seen or identity in skip_ids:
                continue
            seen.add(identity)
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:  # its photos cannot be listed: the folder stands for them
                yield FoundFile(directory.relative_to(root).as_posix(), 0, 0.0)
            continue  # otherwise an unreadable folder: nothing we can list
        subdirectories = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    subdirectories.append(Path(entry.path))
                elif os.path.splitext(entry.name)[1].lower() in LISTED_EXTENSIONS:
                    rel_path = Path(entry.path).relative_to(root).as_posix()
                    try:
                        stat = entry.stat(follow_symlinks=True)
                    except OSError as exc:
                        if exc.errno != errno.ENAMETOOLONG:
                            raise
                        yield FoundFile(rel_path, 0, 0.0)  # reading it says why it cannot be read
                        continue
                    yield FoundFile(rel_path, stat.st_size, stat.st_mtime)
            except OSError:
                continue  # dangling symlink or a file removed while scanning
        stack.extend(reversed(subdirectories))


def _dir_id(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_dev, stat.st_ino


def class_subfolders(root: Path, peek: int = 50) -> list[str]:
    """Names of subfolders that look like classes (``root/class_name/image.jpg``), else an empty list.

    The layout is recognised when the root holds no images of its own and at least two subfolders
    directly contain images. Only the first ``peek`` entries of each subfolder are looked at.
    """
    try:
        entries = [entry for entry in os.scandir(root) if not entry.name.startswith(".")]
    except OSError:
        return []
    if any(entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS for entry in entries):
        return []
    names = []
    for entry in sorted(entries, key=lambda e: e.name.lower()):
        if not entry.is_dir():
            continue
        try:
            with os.scandir(entry.path) as children:
                for count, child in enumerate(children):
                    if os.path.splitext(child.name)[1].lower() in IMAGE_EXTENSIONS:
                        names.append(entry.name)
                        break
                    if count >= peek:
                        break
        except OSError:
            continue
    return names if len(names) >= 2 else []
