"""A photo whose path is longer than the system allows (PATH_MAX) cannot be opened by name; the import lists it
under Cannot read with that reason instead of leaving it out without a word."""

from __future__ import annotations

import os
from pathlib import Path

import imagemakers
import numpy as np
import pytest

from desktop.core.importer import import_folder
from desktop.io.scan import scan_images

pytestmark = pytest.mark.skipif(not hasattr(os, "O_DIRECTORY"), reason="POSIX: folders opened relative to others")

STEP = "d" * 200


def _deep_tree(root: Path) -> tuple[str, str]:
    """root/ok.jpg, a photo whose path just passes PATH_MAX, and a folder deeper still with a photo in it;
    built relative to open folders (by name they are too long). Their relative paths."""
    photo = imagemakers.jpeg_bytes(np.full((24, 32, 3), 90, np.uint8))
    imagemakers.write(root / "ok.jpg", photo)
    limit = os.pathconf(root, "PC_PATH_MAX")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    parts: list[str] = []
    try:
        # Down until the photo's name (at most 250 bytes) can carry its path past the limit, whatever the length
        # of the temporary folder: the gap left is then 40 to 240 characters.
        while limit - (len(str(root)) + len("/".join(parts))) > 240:
            os.mkdir(STEP, dir_fd=fd)
            fd, previous = os.open(STEP, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
            os.close(previous)
            parts.append(STEP)
        name = "p" * (limit - len(str(root)) - len("/".join(parts)) + 10) + ".jpg"  # its path passes the limit
        for write_to, file_name in ((fd, name[-250:]), (None, "beyond.jpg")):
            if write_to is None:
                os.mkdir(STEP, dir_fd=fd)
                write_to = os.open(STEP, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.mkdir(STEP, dir_fd=write_to)
                write_to = os.open(STEP, os.O_RDONLY | os.O_DIRECTORY, dir_fd=write_to)
            out = os.open(file_name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=write_to)
            os.write(out, photo)
            os.close(out)
    finally:
        os.close(fd)
    base = "/".join(parts)
    return f"{base}/{name[-250:]}", f"{base}/{STEP}"


def test_a_photo_and_a_folder_beyond_path_max_are_listed_with_the_reason(project, tmp_path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    deep_photo, deep_folder = _deep_tree(root)
    assert len(str(root / deep_photo)) > os.pathconf(root, "PC_PATH_MAX")
    found = {f.rel_path for f in scan_images(root)}
    assert {"ok.jpg", deep_photo} <= found
    summary = import_folder(project, root)
    assert summary.imported == 1
    reasons = dict(summary.broken_files)
    assert set(reasons) >= {deep_photo}
    assert all("longer than this system allows" in reasons[path] for path in reasons)
    assert any(path.startswith(deep_folder) for path in reasons), "the folder whose photos cannot be listed"
