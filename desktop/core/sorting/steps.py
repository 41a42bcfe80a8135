"""One photo's way through a sort: sorted (copied or moved without overwriting, verified), or put back, from
the journal's state and, after a crash, from what the disk holds. ``SortRun`` is one run's (or undo's) state
machine; a photo that cannot be handled raises :class:`PhotoFailed` (the others go on), a destination that can
take no more raises :class:`desktop.core.sorting.stops.Stop`."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from glob import escape as glob_escape
from pathlib import Path

from desktop.core.project import Project
from desktop.core.sorting.folders import ProjectFolders, levels_below
from desktop.core.sorting.journal import JournalledSort, Op, SortRecord
from desktop.core.sorting.model import (
    COPY,
    DISK_FULL,
    MAX_RENAMES,
    MOVE,
    OpState,
    UndoResult,
    os_error_reason,
)
from desktop.core.sorting.stops import Stop, StopKind
from desktop.io import safe_files
from desktop.io.file_names import name_key, numbered
from desktop.io.safe_files import Settled

_READ_ONLY = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


class PhotoFailed(Exception):
    """This photo cannot be sorted (or put back); the others can. ``reason`` is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SortRun(JournalledSort):
    """One run (or undo) of a sort: each operation's state machine, from the journal's state and the disk."""

    def __init__(self, project: Project, sort: SortRecord) -> None:
        super().__init__(project, sort)
        self._by_id = {op.id: op for op in self.ops}
        self._listed: dict[str, set[str]] = {}  # name keys per destination folder, listed once per run

    def temp_for(self, op: Op, directory: Path) -> Path:
        # Hidden (the importer skips dot-files) and named after the operation, so a crash's leftovers are found.
        return directory / f"{self._temp_prefix()}{op.id}.part"

    def _temp_prefix(self) -> str:
        # The sort's random token tells two projects' sort #1 apart in a shared destination (older sorts have none).
        token = self.settings.token
        return f".pigeonhole-{self.sort.id}-{token}-" if token else f".pigeonhole-{self.sort.id}-"

    def free_name(self, op: Op, wanted: Path) -> Path:
        """The first "name (n).ext" beside ``wanted`` that no file, image row or other operation has."""
        for number in range(2, MAX_RENAMES):
            candidate = wanted.parent / numbered(op.source.name, number)
            if name_key(str(candidate)) in self._claimed or self._name_taken(candidate) \
                    or self._indexed(candidate, op):
                continue
            return candidate
        raise PhotoFailed(f"No free name was found for {op.source.name} in {wanted.parent}.")

    def _name_taken(self, path: Path) -> bool:
        """Whether a file has this name, or another spelling of it (case, composition): such names are one file
        on many drives, so they clash on every drive. Listed once per folder and run: a file that appears since
        is still never overwritten (links and O_EXCL see to that), it may only differ from ours by case."""
        if os.path.lexists(path):
            return True
        folder, name = name_key(str(path.parent)), name_key(path.name)
        if folder in self._listed and name not in self._listed[folder]:
            return False
        try:  # listed for the first time, or listed with this name (which may be gone: a crash's placeholder)
            self._listed[folder] = {name_key(entry) for entry in os.listdir(path.parent)}
        except OSError:
            self._listed[folder] = set()
        return name in self._listed[folder]

    # sorting one photo ---------------------------------------------------------------------------------------------

    def photo_of(self, op: Op) -> Op | None:
        """The photo a companion file travels with (None for a photo's own operation)."""
        if op.companion_of is None:
            return None
        return self._by_id.get(op.companion_of)

    def sort_one(self, op: Op) -> None:
        clash = False
        if op.state == OpState.STARTED:  # interrupted: the disk says how far it got
            outcome = self._settle_forward(op)
            if outcome == Settled.DONE:
                self.record(op, OpState.DONE, repoint=self._repoint_for(op))
                return
            clash = outcome == Settled.CLASH
        photo = self.photo_of(op)
        if photo is not None and photo.state != OpState.DONE:  # never separated: it goes only where its photo is
            raise PhotoFailed(f"{op.source.name} stays beside {photo.source.name}, which was not sorted.")
        if photo is not None:  # the photo may have taken another free name than planned: follow it
            op.destination = _following(photo, op)
        info = self._check_source(op)
        for _attempt in range(MAX_RENAMES):
            self._refuse_links(op.destination.parent)
            self._make_class_folder(op.destination.parent)
            target = op.destination
            if clash or self._name_taken(target):
                target = self.free_name(op, target)
            self.begin(op, OpState.STARTED, target)
            try:
                if self.sort.mode == COPY:
                    self._copy(op, op.source, target, verify=True)
                else:
                    self._move(op, op.source, target, info, verify=True)
            except FileExistsError:
                clash = True  # the name was taken a moment ago; nothing was written: take another
                continue
            self.record(op, OpState.DONE, repoint=self._repoint_for(op))
            return
        raise PhotoFailed(f"No free name was found for {op.source.name} in {op.destination.parent}.")

    def _repoint_for(self, op: Op) -> tuple[Path, Path] | None:
        return (op.source, op.destination) if self.sort.mode == MOVE else None

    def _check_source(self, op: Op) -> os.stat_result:
        """The source is still the regular file that was planned (its content is checked as it is copied, or
        just before a move on one drive)."""
        try:
            info = os.lstat(op.source)
            if stat.S_ISLNK(info.st_mode):
                if self.sort.mode == MOVE:  # moving it would move the file it points to
                    raise PhotoFailed(f"{op.source} was replaced by a symbolic link after the sort was planned, so it "
                                  "was left alone.")
                info = os.stat(op.source)  # a copy reads through it; the content check says if it is the photo
        except FileNotFoundError:
            raise PhotoFailed(f"{op.source} is no longer there: it was moved or deleted after the sort was "
                          "planned.") from None
        except OSError as exc:
            raise PhotoFailed(f"Cannot read {op.source}: {os_error_reason(exc)}.") from exc
        if not stat.S_ISREG(info.st_mode):
            raise PhotoFailed(f"{op.source} is not a regular file any more (a named pipe or device was put in its "
                          "place), so it was left alone.")
        if info.st_size != op.size:
            raise PhotoFailed(f"{op.source} changed after the sort was planned; plan the sort again to include it.")
        return info

    def _refuse_links(self, folder: Path) -> None:
        """Never write through a link put in place of the destination or a class folder during the sort (into
        somebody else's folder, or back into the sources). Checked before each photo."""
        if os.path.realpath(self.destination) != str(self.destination):  # it was resolved when planned
            raise Stop(StopKind.LINK, self.destination)
        info = safe_files.lstat_or_none(folder)
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise Stop(StopKind.LINK, folder)

    def _make_class_folder(self, directory: Path) -> None:
        try:
            for level in levels_below(self.destination, directory):
                level.mkdir(exist_ok=True)  # not parents=True: a vanished drive must not be re-created elsewhere
        except FileExistsError:
            raise PhotoFailed(f"Cannot create the folder {directory}: a file with that name is in the way.") from None
        except FileNotFoundError:
            raise Stop(StopKind.UNAVAILABLE, directory.parent) from None
        except OSError as exc:
            raise _destination_error(exc, directory) from exc

    def _settle_forward(self, op: Op) -> Settled:
        temp = self.temp_for(op, op.destination.parent)
        if self.sort.mode == COPY:
            return safe_files.settle_copy(op.destination, op.size, op.content_hash, temp)
        return _settle_move(op.source, op.destination, op.size, op.content_hash, temp)

    def _copy(self, op: Op, source: Path, target: Path, *, verify: bool) -> None:
        """Copy into a temp file beside ``target``, fsync, check, then publish it without overwriting."""
        temp = self.temp_for(op, target.parent)
        safe_files.remove_leftover(temp)
        try:
            try:
                size, digest = safe_files.copy_file(source, temp)
            except safe_files.SourceError as exc:
                raise PhotoFailed(f"Cannot read {source}: {os_error_reason(exc.error)}.") from exc.error
            except OSError as exc:
                raise _destination_error(exc, target.parent) from exc
            if verify and (size, digest) != (op.size, op.content_hash):
                raise PhotoFailed(f"{source} changed after the sort was planned; plan the sort again to include it.")
            safe_files.copy_times(source, temp)
            try:
                safe_files.publish(temp, target)
            except FileExistsError:
                raise
            except OSError as exc:
                raise _destination_error(exc, target.parent) from exc
        finally:
            safe_files.remove_leftover(temp)  # after publishing it is gone already (or a second name of the target)
        if os.stat(target).st_size != size:
            raise PhotoFailed(f"{target} was written but does not have the size of {source}; it was left there for "
                          "you to check.")

    def _move(self, op: Op, source: Path, target: Path, info: os.stat_result, *, verify: bool) -> None:
        if info.st_dev == os.stat(target.parent).st_dev:
            if verify:  # a photo edited since planning (even to the same size) is not moved on a stale plan
                try:
                    unchanged = safe_files.hash_file(source) == op.content_hash
                except OSError as exc:
                    raise PhotoFailed(f"Cannot read {source}: {os_error_reason(exc)}.") from exc
                if not unchanged:
                    raise PhotoFailed(f"{source} changed after the sort was planned; plan the sort again to include "
                                  "it.")
            try:
                _move_on_drive(source, target)
                return
            except (FileExistsError, Stop):
                raise
            except safe_files.CrossDevice:
                pass  # another mount of the same drive: copy instead
            except OSError as exc:
                if exc.errno in DISK_FULL or exc.errno == errno.EROFS:  # no later photo would fare better
                    raise _destination_error(exc, target.parent) from exc
                # Permission problems may be the source folder's, so only this photo fails.
                raise PhotoFailed(f"Cannot move {source} to {target.parent}: {os_error_reason(exc)}.") from exc
        # Another drive: copy, verify, make the copy durable, and only then delete the original.
        self._copy(op, source, target, verify=verify)
        safe_files.fsync_dir(target.parent)
        _drop_original(source, target)

    # putting one photo back ----------------------------------------------------------------------------------------

    def undo_one(self, op: Op, result: UndoResult) -> None:
        self._refuse_links(op.destination.parent)
        photo = self.photo_of(op)
        if photo is not None and photo.state not in (OpState.UNDONE, OpState.PLANNED, OpState.FAILED) \
                and op.state != OpState.STARTED:
            raise PhotoFailed(f"it stays beside {photo.destination.name}, which could not be put back")
        if op.state == OpState.STARTED:
            if self._settle_forward(op) != Settled.DONE:
                self.record(op, OpState.PLANNED)  # it never reached the destination: nothing to put back
                return
            self.record(op, OpState.DONE, repoint=self._repoint_for(op))
        if self.sort.mode == COPY:
            self._delete_copy(op, result)
        else:
            self._move_back(op, result)

    def _delete_copy(self, op: Op, result: UndoResult) -> None:
        copy = op.destination
        try:
            info = os.lstat(copy)
        except FileNotFoundError:
            self.record(op, OpState.UNDONE, "the copy was already gone")
            return
        except OSError as exc:
            raise PhotoFailed(f"it cannot be read ({os_error_reason(exc)}), so it was kept") from exc
        if info.st_size != op.size or safe_files.hash_file(copy) != op.content_hash:
            raise PhotoFailed("it changed after the sort, so it was kept")
        # Deleting a copy must never delete the last copy of a photo.
        original = safe_files.lstat_or_none(op.source, follow=True)
        if original is None or os.path.samestat(original, info) or original.st_size != op.size \
                or safe_files.hash_file(op.source) != op.content_hash:
            raise PhotoFailed(f"the original {op.source} is gone or changed, so this copy was kept")
        try:
            os.unlink(copy)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise PhotoFailed(f"it cannot be deleted ({os_error_reason(exc)}), so it was kept") from exc
        self.record(op, OpState.UNDONE)
        (result.deleted if op.companion_of is None else result.companions).append(copy)

    def _move_back(self, op: Op, result: UndoResult) -> None:
        home = Path(self.settings.restored_to.get(str(op.id), op.source))
        clash = False
        if op.state == OpState.UNDOING:
            outcome = _settle_move(op.destination, home, op.size, op.content_hash, self.temp_for(op, home.parent))
            if outcome == Settled.DONE:
                self._restored(op, home, result)
                return
            clash = outcome == Settled.CLASH
        info = safe_files.lstat_or_none(op.destination)
        if info is None:
            raise PhotoFailed("it is no longer there (moved or deleted after the sort), so it cannot be put back")
        for _attempt in range(MAX_RENAMES):
            # Another row at the photo's own old place is the same file listed twice (nested project folders).
            if clash or os.path.lexists(home) or (home != op.source and self._indexed(home, op)):
                home = self.free_name(op, op.source)
            self._make_home_folder(home)
            # Journalled before the move, so that after a crash the photo is looked for where it was going.
            self.begin(op, OpState.UNDOING, restore_as=home if home != op.source else None)
            try:
                self._move(op, op.destination, home, info, verify=False)
            except FileExistsError:
                clash = True
                continue
            self._restored(op, home, result)
            return
        raise PhotoFailed(f"no free name was found beside {op.source}")

    def _make_home_folder(self, home: Path) -> None:
        """Re-create a source folder the user removed once it was empty, but only on a drive that is there:
        re-creating /media/card/DCIM on the system disk would hide the photos under the card's mount point."""
        if home.parent.is_dir():
            return
        with self.journal.write() as session:
            if self._folders is None:
                self._folders = ProjectFolders.load(session)
        anchor = self._folders.root_of(home) or home.parent.parent
        if not anchor.is_dir():
            raise Stop(StopKind.UNAVAILABLE, anchor)
        try:
            home.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PhotoFailed(f"its folder {home.parent} cannot be created again ({os_error_reason(exc)})") from exc

    def _restored(self, op: Op, home: Path, result: UndoResult) -> None:
        self.record(op, OpState.UNDONE, None if home == op.source else f"put back as {home}",
                    repoint=(op.destination, home))
        if op.companion_of is not None:  # counted apart: the sentence says how many photos went back
            result.companions.append(home)
        else:
            result.restored.append((op.destination, home))
        if home != op.source:
            result.renamed.append((op.source, home))

    def remove_created_folders(self) -> list[Path]:
        """Class folders this sort created, and the destination if it made it, once they are empty."""
        existing = set(self.settings.existing_dirs)
        levels = {level for op in self.ops for level in levels_below(self.destination, op.destination.parent)}
        class_folders = sorted((level for level in levels if str(level) not in existing),
                               key=lambda path: len(path.parts), reverse=True)
        for folder in class_folders:
            for leftover in folder.glob(f"{glob_escape(self._temp_prefix())}*.part"):  # ours, never the only copy
                safe_files.remove_leftover(leftover)
        return safe_files.remove_empty_dirs([*class_folders, *(Path(p) for p in self.settings.created_dirs)])


def _following(photo: Op, companion: Op) -> Path:
    """A companion's place beside its sorted photo: the photo's new stem and the companion's own ending
    (``IMG_1 (2).CR2.xmp`` beside ``IMG_1 (2).JPG``)."""
    suffix = photo.source.suffix
    name = photo.destination.name
    stem = name[:len(name) - len(suffix)] if suffix else name
    return photo.destination.parent / (stem + companion.source.name[len(photo.source.stem):])


# --- file steps with the sort's own outcomes ---------------------------------------------------------------------

def _settle_move(origin: Path, target: Path, size: int, digest: str, temp: Path) -> Settled:
    try:
        return safe_files.settle_move(origin, target, size, digest, temp)
    except safe_files.Vanished as gone:
        raise PhotoFailed(str(gone)) from gone


def _move_on_drive(source: Path, target: Path) -> None:
    """Move within one drive: link under the new name, then drop the old one. Never overwrites."""
    try:
        safe_files.hard_link(source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise safe_files.CrossDevice from exc
        if exc.errno not in safe_files.NO_HARD_LINKS:
            raise
        safe_files.rename_no_replace(source, target)
        return
    try:
        os.unlink(source)
    except OSError as exc:
        try:
            os.unlink(target)  # the same file's second name: removing it leaves the photo where it was
        except OSError:
            # Two names for one photo: nothing is lost, and the journal still says "started" for resume.
            raise Stop(StopKind.STUCK, target.parent) from exc
        raise


def _drop_original(source: Path, copy: Path) -> None:
    """The last step of a move across drives, once ``copy`` is verified and durable."""
    try:
        os.unlink(source)
    except FileNotFoundError:
        pass
    except OSError as exc:
        # The original cannot go, so the copy goes: a move happens entirely or not at all.
        with contextlib.suppress(OSError):
            os.unlink(copy)
        raise PhotoFailed(f"Cannot move {source} out of its folder: {os_error_reason(exc)}.") from exc


def _destination_error(exc: OSError, where: Path) -> Exception:
    if exc.errno in DISK_FULL:
        return Stop(StopKind.DESTINATION_FULL, where, "The destination disk is full.")
    if exc.errno in _READ_ONLY:
        reason = os_error_reason(exc)
        return Stop(StopKind.UNWRITABLE, where, f"Cannot write to {where}: {reason}.", reason)
    if exc.errno in (errno.ENOENT, errno.ENODEV, errno.EIO):
        return Stop(StopKind.UNAVAILABLE, where, f"{where} is not available.")
    return PhotoFailed(f"Cannot write to {where}: {os_error_reason(exc)}.")
