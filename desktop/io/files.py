"""Reading a file that someone else put there: regular files only, never more than a stated number of bytes.

A photo folder (or a model file a user picks) can hold anything with a plausible name: a named pipe that blocks
``open()`` forever, a symlink to ``/dev/zero`` that never ends, a sparse file claiming 20 GB. Each is refused
with a reason before more than ``max_bytes`` are read; nothing here can hang or exhaust memory.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from desktop.errors import PigeonholeError

# Not opening is what keeps a FIFO from blocking and a terminal from becoming ours.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
_CHUNK = 1 << 20


class FileReadError(PigeonholeError):
    """The file cannot be read safely. ``reason`` is a lower-case fragment ("this is a named pipe (FIFO), not a
    regular file"); ``str(error)`` the whole sentence with the path."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"Cannot read {path}: {reason}.")
        self.path = Path(path)
        self.reason = reason


def describe_size(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{size} bytes"


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "this is a folder, not a file"
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
    name = next((word for test, word in kinds if test(mode)), "a special file")
    return f"cannot read the file: it is {name}, not a regular file"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "cannot read the file: permission denied"
    if isinstance(exc, FileNotFoundError):
        return "the file no longer exists"
    if isinstance(exc, IsADirectoryError):
        return "this is a folder, not a file"
    if exc.errno == errno.ELOOP:
        return "cannot read the file: too many levels of symbolic links"
    if exc.errno == errno.ENAMETOOLONG:
        return ("cannot read the file: its path is longer than this system allows (move it to a folder nearer "
                "the top, or shorten the folder names)")
    return f"cannot read the file: {(exc.strerror or type(exc).__name__).lower()}"


def _too_large(size_text: str, max_bytes: int) -> str:
    return f"refused: the file is {size_text}, above the {describe_size(max_bytes)} limit"


def check_regular_file(path: Path | str, max_bytes: int | None = None) -> os.stat_result:
    """``path``'s stat (symlinks followed) when it is a regular file of at most ``max_bytes``; else FileReadError."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise FileReadError(path, _os_reason(exc)) from exc
    _refuse(path, info, max_bytes)
    return info


def _refuse(path: Path | str, info: os.stat_result, max_bytes: int | None) -> None:
    kind = _kind(info.st_mode)
    if kind is not None:
        raise FileReadError(path, kind)
    if max_bytes is not None and info.st_size > max_bytes:
        raise FileReadError(path, _too_large(describe_size(info.st_size), max_bytes))


def read_regular_file(path: Path | str, max_bytes: int) -> bytes:
    """The whole content of ``path`` if it is a regular file of at most ``max_bytes`` bytes.

    Checked twice: ``stat`` before opening (a device is never opened), then ``fstat`` on the opened descriptor
    (the path may have been swapped in between). A file that grows past the limit while being read is refused.
    Raises :class:`FileReadError` for everything else, including permission and I/O errors.
    """
    check_regular_file(path, max_bytes)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise FileReadError(path, _os_reason(exc)) from exc
    try:
        info = os.fstat(fd)
        _refuse(path, info, max_bytes)
        chunks = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise FileReadError(path, f"refused: the file grew past the {describe_size(max_bytes)} limit while "
                                      "being read")
        return b"".join(chunks)
    except OSError as exc:
        raise FileReadError(path, _os_reason(exc)) from exc
    except MemoryError as exc:
        raise FileReadError(path, "cannot read the file: not enough memory") from exc
    finally:
        os.close(fd)


def read_head(path: Path | str, count: int) -> bytes:
    """The first ``count`` bytes of a regular file (any size): for recognising a file by its header."""
    check_regular_file(path)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise FileReadError(path, _os_reason(exc)) from exc
    try:
        _refuse(path, os.fstat(fd), None)
        return os.read(fd, count)
    except OSError as exc:
        raise FileReadError(path, _os_reason(exc)) from exc
    finally:
        os.close(fd)
