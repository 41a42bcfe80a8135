"""Thumbnails on disk, one JPEG per distinct image content (keyed by content hash).

A cache: losing it loses nothing (every thumbnail can be made again from its photo), so writes are atomic but
not fsynced, and a cache that cannot be written (read-only, full, a file where its folder should be) is the
caller's warning, never a reason to call a photo broken.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from desktop.io.files import FileReadError, read_regular_file
from desktop.io.safe_files import atomic_write

# A 256-px JPEG is tens of KB; anything far larger in the cache is not one of ours.
MAX_THUMBNAIL_BYTES = 4 << 20


class ThumbnailStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, content_hash: str) -> Path:
        # Two-character fan-out keeps directories small with 100,000 images.
        return self.directory / content_hash[:2] / f"{content_hash}.jpg"

    def read(self, content_hash: str) -> bytes | None:
        """The cached JPEG's bytes; None when there is none or what is there is no regular file of a thumbnail's
        size. The cache folder is writable by anyone who can write the project: a named pipe put there would
        block a plain open() (a loader thread, and quitting, waiting for ever), so it is opened non-blocking and
        checked on the descriptor (``read_regular_file``)."""
        try:
            return read_regular_file(self.path_for(content_hash), MAX_THUMBNAIL_BYTES)
        except FileReadError:
            return None

    def has(self, content_hash: str) -> bool:
        return self.path_for(content_hash).is_file()

    def put(self, content_hash: str, jpeg: bytes) -> None:
        """Raises OSError when the cache cannot be written."""
        # durable=False: a crash may lose a thumbnail (the next import remakes it), never leave half of one.
        atomic_write(self.path_for(content_hash), lambda handle: handle.write(jpeg), durable=False)

    def existing(self) -> set[str]:
        """The content hashes that have a thumbnail, from one listing of the cache (cheaper than a stat each);
        an entry that is no regular file (a pipe, a folder) does not count, so the next import replaces it."""
        hashes: set[str] = set()
        try:
            fans = [entry.path for entry in os.scandir(self.directory) if entry.is_dir() and len(entry.name) == 2]
        except OSError:
            return hashes
        for fan in fans:
            try:
                with os.scandir(fan) as entries:
                    hashes.update(entry.name[:-4] for entry in entries
                                  if entry.name.endswith(".jpg") and entry.name[0] != "."
                                  and entry.is_file(follow_symlinks=False))
            except OSError:
                continue
        return hashes

    def check_writable(self) -> None:
        """Raise OSError unless a thumbnail could be written now (a cheap probe before re-making many)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=self.directory, prefix=".tmp-probe-")
        os.close(fd)
        os.unlink(probe)
