"""Reading untrusted files: regular files only (no hang on a pipe, no endless /dev/zero), capped in size."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.io.safe_read import FileMissing, FileTooLarge, NotRegularFile, read_regular_file

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")


@pytest.fixture
def fails_instead_of_hanging() -> Iterator[None]:
    """A regression would block forever: SIGALRM turns that into a failure (a safety net, not a timing test)."""

    def stuck(signum, frame):
        raise TimeoutError("the read blocked")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_reads_a_regular_file_and_a_symlink_to_one(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"12345")
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    assert read_regular_file(target, 5) == read_regular_file(link, 5) == b"12345"


def test_missing_folder_and_too_large_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(FileMissing, match="does not exist"):
        read_regular_file(tmp_path / "nope", 10)
    with pytest.raises(NotRegularFile, match="is a folder"):
        read_regular_file(tmp_path, 10)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 11)
    with pytest.raises(FileTooLarge, match="too large"):
        read_regular_file(big, 10)


@posix_only
def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path: Path, fails_instead_of_hanging) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # nobody writes: a plain open() would wait forever
    with pytest.raises(NotRegularFile, match="not a regular file"):
        read_regular_file(fifo, 10)


@posix_only
def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path, fails_instead_of_hanging) -> None:
    link = tmp_path / "labels.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(NotRegularFile, match="not a regular file"):
        read_regular_file(link, 1 << 20)
