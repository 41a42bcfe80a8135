"""Reading a file someone else gave us: only a regular file, and only up to a size cap.

``open()`` on a named pipe blocks until a writer appears (forever), and ``read()`` on ``/dev/zero`` or a
symlink to it never ends; both turn a model, label or image path into a hang or an out-of-memory. So the
file is opened with ``O_NONBLOCK`` (a FIFO opens at once instead of waiting), checked with ``fstat`` on
the open descriptor (no window for swapping the file between the check and the read), and read to at most
``max_bytes``. Every refusal is a :class:`ReadRefused` whose message is one sentence naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from desktop.errors import PigeonholeError


class ReadRefused(PigeonholeError):
    """The file cannot or must not be read; ``str(error)`` names it."""


class FileMissing(ReadRefused):
    pass


class NotRegularFile(ReadRefused):
    pass


class FileTooLarge(ReadRefused):
    pass


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size < 10**9 else f"{size / 1e9:,.1f} GB"


def open_regular_file(path: Path | str, max_bytes: int) -> BinaryIO:
    """``path`` opened for binary reading, or ReadRefused: missing, not a regular file, larger than ``max_bytes``."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileMissing(f"{path} does not exist.") from None
    except IsADirectoryError:  # Windows; POSIX opens folders and fstat tells below
        raise NotRegularFile(f"{path} is a folder, not a file.") from None
    except OSError as exc:
        raise ReadRefused(f"Cannot open {path}: {(exc.strerror or str(exc)).rstrip('.')}.") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NotRegularFile(f"{path} is a folder, not a file.")
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"{path} is not a regular file (a pipe, device or socket), so it is not read.")
        if info.st_size > max_bytes:
            raise FileTooLarge(f"{path} is too large ({_megabytes(info.st_size)}; the limit is "
                               f"{_megabytes(max_bytes)}).")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: ordinary reads from here on
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_file(path: Path | str, max_bytes: int) -> bytes:
    """The whole of a regular file of at most ``max_bytes`` (also if it grows while being read)."""
    with open_regular_file(path, max_bytes) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise ReadRefused(f"Cannot read {path}: {(exc.strerror or str(exc)).rstrip('.')}.") from exc
    if len(data) > max_bytes:
        raise FileTooLarge(f"{path} is too large (more than {_megabytes(max_bytes)}).")
    return data
