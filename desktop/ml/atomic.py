"""Crash-safe file replacement: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def temporary_beside(path: Path) -> Iterator[Path]:
    """A temporary file name in ``path``'s folder (same file system, so the rename is atomic); removed on error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=".part")
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)  # after a successful os.replace the name no longer exists


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file, fsync it, then rename it over ``path``."""
    with temporary_beside(path) as temp:
        with temp.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    _fsync_directory(path.parent)


def atomic_create(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Like ``atomic_write``, but never replaces a file: FileExistsError if ``path`` exists, even one created
    while ``write`` ran (a hard link, like Windows' rename, refuses an existing name atomically)."""
    with temporary_beside(path) as temp:
        with temp.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "nt":
            os.rename(temp, path)
        else:
            try:
                os.link(temp, path)
            except FileExistsError:
                raise
            except OSError:  # no hard links on this drive (FAT, some network shares): check, then rename
                if os.path.lexists(path):
                    raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
                os.rename(temp, path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open directories and needs no such step.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
