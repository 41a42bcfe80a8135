"""Thumbnails on disk, one JPEG per distinct image content (keyed by content hash)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` then rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ThumbnailStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, content_hash: str) -> Path:
        # Two-character fan-out keeps directories small with 100,000 images.
        return self.directory / content_hash[:2] / f"{content_hash}.jpg"

    def has(self, content_hash: str) -> bool:
        return self.path_for(content_hash).is_file()

    def put(self, content_hash: str, jpeg: bytes) -> None:
        write_atomically(self.path_for(content_hash), jpeg)
