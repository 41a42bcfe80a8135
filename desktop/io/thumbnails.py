"""Thumbnails on disk, one JPEG per distinct image content (keyed by content hash).

A cache: losing it loses nothing (every thumbnail can be made again from its photo), so writes are atomic but
not fsynced, and a cache that cannot be written (read-only, full, a file where its folder should be) is the
caller's warning, never a reason to call a photo broken.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from desktop.io.safe_files import atomic_write


class ThumbnailStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, content_hash: str) -> Path:
        # Two-character fan-out keeps directories small with 100,000 images.
        return self.directory / content_hash[:2] / f"{content_hash}.jpg"

    def has(self, content_hash: str) -> bool:
        return self.path_for(content_hash).is_file()

    def put(self, content_hash: str, jpeg: bytes) -> None:
        """Raises OSError when the cache cannot be written."""
        # durable=False: a crash may lose a thumbnail (the next import remakes it), never leave half of one.
        atomic_write(self.path_for(content_hash), lambda handle: handle.write(jpeg), durable=False)

    def existing(self) -> set[str]:
        """The content hashes that have a thumbnail, from one listing of the cache (cheaper than a stat each)."""
        hashes: set[str] = set()
        try:
            fans = [entry.path for entry in os.scandir(self.directory) if entry.is_dir() and len(entry.name) == 2]
        except OSError:
            return hashes
        for fan in fans:
            try:
                hashes.update(name[:-4] for name in os.listdir(fan) if name.endswith(".jpg") and name[0] != ".")
            except OSError:
                continue
        return hashes

    def check_writable(self) -> None:
        """Raise OSError unless a thumbnail could be written now (a cheap probe before re-making many)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=self.directory, prefix=".tmp-probe-")
        os.close(fd)
        os.unlink(probe)
