"""Writing files so that a crash, a full disk or a name taken meanwhile never loses or overwrites anything.

The one home of: the content hash of bytes and of a file (read in chunks, through a descriptor that must be a
regular file); publishing a finished file under a name without ever replacing another file (a hard link, or on
drives without hard links an O_EXCL placeholder that only our own file replaces); copying with fsync and hash;
settling after a crash a copy or a move that may be half done (the disk says which half); fsyncing a folder so
a new name is durable; and atomic small writes (a reader sees the old file or the new one, never half of one).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 1 << 20
TEMP_PREFIX = ".tmp-"  # atomic writes' temp files, beside their target

# errno values of os.link that mean "this drive has no hard links" (FAT, exFAT, some network shares).
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EINVAL})
O_BINARY = getattr(os, "O_BINARY", 0)
# Reading a source never blocks on a FIFO put in a photo's place (O_NONBLOCK changes nothing for regular files),
# nor makes a terminal ours.
_O_READ = os.O_RDONLY | O_BINARY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


# --- the content hash -------------------------------------------------------------------------------------------

def _content_digest(data: bytes = b"") -> hashlib.blake2b:
    return hashlib.blake2b(data, digest_size=16)


def content_hash(data: bytes) -> str:
    """The digest that identifies a photo's content (thumbnails, predictions and sorts are keyed by it)."""
    return _content_digest(data).hexdigest()


def hash_file(path: Path) -> str:
    """``content_hash`` of a file's bytes, read in chunks; OSError unless ``path`` is a regular file."""
    return file_digest(path, _content_digest())


def file_digest(path: Path, digest: hashlib._Hash) -> str:
    """Feed a regular file's bytes to ``digest`` in chunks; its hex digest (``hash_file``: the content hash)."""
    with os.fdopen(open_regular(path), "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def open_regular(path: Path) -> int:
    """A descriptor for reading ``path``, which must be a regular file: a FIFO or device swapped in after the
    last check is refused on the opened descriptor, and the open itself cannot block."""
    fd = os.open(path, _O_READ)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Not a regular file", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


# --- copying and publishing without overwriting -------------------------------------------------------------------

class SourceError(Exception):
    """Reading the source failed (as opposed to writing the destination)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class CrossDevice(Exception):
    """The source and the target are on different mounts: the move must copy."""


def copy_file(source: Path, target: Path) -> tuple[int, str]:
    """Copy ``source`` into the new file ``target`` and fsync it; returns (bytes, content hash).

    Read errors come as SourceError, so a bad source is told apart from a full or read-only destination.
    """
    digest = _content_digest()
    size = 0
    try:
        reader = open_regular(source)
    except OSError as exc:
        raise SourceError(exc) from exc
    try:
        writer = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY, 0o666)
        try:
            while True:
                try:
                    chunk = os.read(reader, CHUNK_SIZE)
                except OSError as exc:
                    raise SourceError(exc) from exc
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(writer, view):]
            os.fsync(writer)  # the bytes are on disk before the name is published (and before a source goes)
        finally:
            os.close(writer)
    finally:
        os.close(reader)
    return size, digest.hexdigest()


def copy_times(source: Path, target: Path) -> None:
    # The project compares size and time to tell unchanged files; photo tools show the time too.
    with contextlib.suppress(OSError):
        info = os.stat(source)
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


def hard_link(source: Path, target: Path) -> None:
    """Raises FileExistsError when ``target`` exists: the no-overwrite primitive everything relies on.
    A symlink swapped in for ``source`` after the last check gets a second name itself: the file it points to
    is never linked into the destination."""
    if os.link in os.supports_follow_symlinks:
        os.link(source, target, follow_symlinks=False)
    else:
        os.link(source, target)


def publish(temp: Path, target: Path) -> None:
    """Give a finished temp file its final name; raises FileExistsError rather than replace anything."""
    try:
        hard_link(temp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        rename_no_replace(temp, target)
        return
    with contextlib.suppress(OSError):  # the photo is published; a stray temp name is cleaned up later
        os.unlink(temp)


def rename_no_replace(source: Path, target: Path) -> None:
    """For drives without hard links: claim ``target`` with an empty placeholder (O_EXCL fails if the name is
    taken), then rename over that placeholder, which is the only file this can ever replace."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY, 0o666)
    os.close(fd)
    try:
        os.replace(source, target)
    except OSError as exc:
        if os.path.lexists(source):
            remove_placeholder(target)
        if exc.errno == errno.EXDEV:
            raise CrossDevice from exc
        raise


# --- settling after a crash ---------------------------------------------------------------------------------------

class Settled(StrEnum):
    DONE = "done"  # the file reached its target
    TODO = "todo"  # it did not, and our leftovers are cleared: do it (again)
    CLASH = "clash"  # another file has the target's name


class Vanished(Exception):
    """The file is neither where it was nor where it was going: moved or deleted by someone else."""


def settle_move(origin: Path, target: Path, size: int, digest: str, temp: Path) -> Settled:
    """After a crash, finish a move that reached ``target``, or leave the file at ``origin`` and clear our
    leftovers (``temp``, an empty placeholder). Never removes the only copy."""
    at_origin, at_target = lstat_or_none(origin), lstat_or_none(target)
    if at_origin is None and at_target is None:
        # Never left by us (the original goes last), but a complete temp copy is rescued rather than removed.
        if lstat_or_none(temp) is not None and os.path.getsize(temp) == size and hash_file(temp) == digest:
            publish(temp, target)
            return Settled.DONE
        raise Vanished(f"{origin} is no longer there, and not at {target} either: it was moved or deleted "
                       "outside Pigeonhole.")
    remove_leftover(temp)
    if at_origin is None:
        if at_target.st_size == 0 and size > 0:
            raise Vanished(f"{origin} is no longer there, and {target} is empty: it was moved or deleted outside "
                           "Pigeonhole.")
        return Settled.DONE
    if at_target is None:
        return Settled.TODO
    if os.path.samestat(at_origin, at_target):  # linked, not yet unlinked
        return _finish_move(origin, target)
    if at_target.st_size == 0 and at_origin.st_size > 0:  # our placeholder (drives without hard links)
        remove_placeholder(target)
        return Settled.TODO
    if at_target.st_size == at_origin.st_size and hash_file(target) == hash_file(origin):
        fsync_dir(target.parent)  # copied across drives, not yet deleted at the origin
        return _finish_move(origin, target)
    return Settled.CLASH


def _finish_move(origin: Path, target: Path) -> Settled:
    try:
        os.unlink(origin)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(target)  # identical to the origin, which stays: start over
        return Settled.TODO
    return Settled.DONE


def settle_copy(target: Path, size: int, digest: str, temp: Path) -> Settled:
    """After a crash: was the copy published? The source is never touched by a copy."""
    remove_leftover(temp)
    at_target = lstat_or_none(target)
    if at_target is None:
        return Settled.TODO
    if at_target.st_size == size and hash_file(target) == digest:
        return Settled.DONE
    if at_target.st_size == 0 and size > 0:
        remove_placeholder(target)
        return Settled.TODO
    return Settled.CLASH


def lstat_or_none(path: Path, *, follow: bool = False) -> os.stat_result | None:
    try:
        return os.stat(path, follow_symlinks=follow)
    except FileNotFoundError:
        return None


def remove_leftover(temp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)


def remove_placeholder(path: Path) -> None:
    # Only ever an empty file: an empty file holds no photo.
    with contextlib.suppress(OSError):
        if os.lstat(path).st_size == 0:
            os.unlink(path)


def remove_empty_dirs(paths: Sequence[Path]) -> list[Path]:
    removed = []
    for path in paths:
        try:
            os.rmdir(path)  # fails unless empty: a folder with anything in it is never removed
        except OSError:
            continue
        removed.append(path)
    return removed


def fsync_dir(directory: Path, *, strict: bool = False) -> None:
    """Make a new name in ``directory`` durable (POSIX; Windows cannot open folders and journals them).
    Best effort unless ``strict``: a sort's photo is safe either way, an atomic write reports the failure."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        if strict:
            raise
        return
    try:
        os.fsync(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)


# --- atomic small writes -------------------------------------------------------------------------------------------

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


def _write_temp(temp: Path, write: Callable[[BinaryIO], None], durable: bool) -> None:
    with temp.open("wb") as handle:
        write(handle)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write(path: Path, write: Callable[[BinaryIO], None], *, durable: bool = True,
                 check: Callable[[Path], None] | None = None) -> None:
    """Call ``write`` on a temporary file, fsync it, then rename it over ``path``. ``check`` may inspect the
    finished temp file and raise to keep ``path`` as it was. ``durable=False`` skips both fsyncs: only for
    caches, which lose nothing when a crash loses a write."""
    with temporary_beside(path) as temp:
        _write_temp(temp, write, durable)
        if check is not None:
            check(temp)
        os.replace(temp, path)
    if durable:
        fsync_dir(path.parent, strict=True)


def atomic_create(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Like ``atomic_write``, but never replaces a file: FileExistsError if ``path`` exists, even one created
    while ``write`` ran (a hard link, like Windows' rename, refuses an existing name atomically)."""
    with temporary_beside(path) as temp:
        _write_temp(temp, write, durable=True)
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
    fsync_dir(path.parent, strict=True)
