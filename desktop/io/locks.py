"""Exclusive access across processes: one advisory lock file per thing that two processes must not share.

The operating system releases the lock when its holder exits, even by SIGKILL, so a crash never leaves a
project "busy" for good (a stale-PID scheme would). ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows.
Threads of one process each open their own descriptor, so the lock also holds between threads.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop.errors import PigeonholeError


class Busy(PigeonholeError):
    """Another process (or another window) holds the lock; its message names what is busy."""


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def exclusive_lock(lock_path: Path | str, busy_message: str, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold ``lock_path`` exclusively for the ``with`` block, or raise :class:`Busy` with ``busy_message``.

    ``wait_s`` > 0 retries for that long first (for short critical sections such as a database write).
    The lock file is left in place (removing it would race with the next holder); it is empty.
    """
    lock_path = Path(lock_path)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise PigeonholeError(f"Cannot create the lock file {lock_path} ({exc.strerror or exc}).") from exc
    try:
        deadline = time.monotonic() + wait_s
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise Busy(busy_message)
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_locked(lock_path: Path | str) -> bool:
    """True while some process holds ``lock_path`` (a probe: it takes and drops the lock at once)."""
    try:
        with exclusive_lock(lock_path, ""):
            return False
    except Busy:
        return True
