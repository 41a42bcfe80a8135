"""desktop.io.files.read_regular_file: only regular files are read, never past a size cap, and nothing hangs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from desktop.errors import PigeonholeError
from desktop.io.files import FileReadError, read_head, read_regular_file

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")


def test_a_regular_file_is_read_whole_up_to_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"x" * 1000)
    assert read_regular_file(path, 1000) == b"x" * 1000
    with pytest.raises(FileReadError, match="above the 999 bytes limit") as caught:
        read_regular_file(path, 999)
    assert isinstance(caught.value, PigeonholeError)  # a sentence for the user, with the path
    assert str(caught.value).startswith(f"Cannot read {path}: refused: the file is 1000 bytes")
    assert read_head(path, 4) == b"xxxx"


@posix_only
def test_a_fifo_is_refused_without_hanging(tmp_path: Path, hang_guard) -> None:
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(FileReadError) as caught:
        read_regular_file(fifo, 1 << 20)
    assert caught.value.reason == "cannot read the file: it is a named pipe (FIFO), not a regular file"
    with pytest.raises(FileReadError, match="named pipe"):
        read_head(fifo, 16)


@posix_only
def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path, hang_guard) -> None:
    link = tmp_path / "zero.jpg"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileReadError, match="it is a device, not a regular file"):
        read_regular_file(link, 1 << 20)


def test_a_sparse_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as handle:
        handle.truncate(20 * 1024**3)  # 20 GB that take no disk space
    with pytest.raises(FileReadError, match="refused: the file is 20 GB, above the 512 MB limit"):
        read_regular_file(huge, 512 * 1024**2)


@posix_only
def test_the_opened_descriptor_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hang_guard) -> None:
    """A regular file swapped for a FIFO between the stat and the open is still refused (fstat, O_NONBLOCK)."""
    fifo = tmp_path / "swapped.jpg"
    os.mkfifo(fifo)
    regular = tmp_path / "regular.jpg"
    regular.write_bytes(b"x")
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: real_stat(regular if path == fifo else path, *a, **k))
    with pytest.raises(FileReadError, match="named pipe"):
        read_regular_file(fifo, 100)


def test_os_errors_become_reasons(tmp_path: Path) -> None:
    with pytest.raises(FileReadError, match="no longer exists"):
        read_regular_file(tmp_path / "gone.jpg", 100)
    with pytest.raises(FileReadError, match="folder, not a file"):
        read_regular_file(tmp_path, 100)
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop.name)
    with pytest.raises(FileReadError, match="symbolic links"):
        read_regular_file(loop, 100)
