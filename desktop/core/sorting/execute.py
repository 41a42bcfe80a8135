"""Starting, running (and resuming) and undoing a sort: each photo's way through the journal's states, with
the disk deciding, after a crash, how far a ``started`` operation got."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from glob import escape as glob_escape
from pathlib import Path

from sqlalchemy import insert, select

from desktop.core.project import Project
from desktop.core.sorting.journal import (
    _Journal,
    _JournalledSort,
    _load_sort,
    _Op,
    _SortRow,
    _Stop,
    exclusive_sorting,
    sort_result,
)
from desktop.core.sorting.model import (
    _DISK_FULL,
    COPY,
    MAX_RENAMES,
    MOVE,
    OpState,
    SortError,
    SortPlan,
    SortProgress,
    SortResult,
    SortStatus,
    UndoResult,
    _why,
)
from desktop.core.sorting.plan import _Folders
from desktop.db.models import Sort, SortOperation
from desktop.io import safe_files
from desktop.io.file_names import name_key, numbered
from desktop.io.safe_files import Settled
from desktop.ml.progress import CancelToken, NeverCancel

_READ_ONLY = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


# --- starting: the journal is written before any photo is touched ----------------------------------------------------

def start_sort(project: Project, plan: SortPlan) -> int:
    """Check the destination can be written to, then journal the whole plan. No photo is touched yet.
    Refused (:class:`desktop.io.locks.Busy`) while another sort of the project runs."""
    if not plan.operations:
        raise SortError("There is nothing to sort: none of the selected photos can be sorted.")
    with exclusive_sorting(project):
        return _start(project, plan)


def _start(project: Project, plan: SortPlan) -> int:
    created = _prepare_destination(plan.destination)
    class_folders = sorted({str(op.destination.parent) for op in plan.operations})
    settings = {
        "follow_labels": plan.follow_labels,
        # Folders that existed before this sort are never removed by its undo, even when empty.
        "existing_dirs": [folder for folder in class_folders if os.path.isdir(folder)],
        "created_dirs": created,  # the destination (and parents) made just now, deepest first
        # In our temp files' names: two projects' sort #1 can write into one folder at once.
        "token": secrets.token_hex(4),
        "plan": {"from_labels": plan.from_labels, "below_threshold": plan.below_threshold,
                 "unpredicted": plan.unpredicted, "already_sorted": plan.already_sorted,
                 "skipped": len(plan.skipped), "expected_mistakes": round(plan.expected_mistakes, 4)},
        "rule": plan.rule,  # how predicted photos were chosen, for history and undo
    }
    rows = [
        {"image_id": op.image_id, "source": str(op.source), "destination": str(op.destination),
         "class_name": op.class_name, "content_hash": op.content_hash, "size": op.size, "state": OpState.PLANNED}
        for op in plan.operations
    ]
    try:
        with _Journal(project) as journal, journal.write() as session:
            sort = Sort(destination=str(plan.destination), mode=plan.mode, threshold=plan.threshold,
                        model_id=plan.model_id, status=SortStatus.PLANNED, settings=settings)
            session.add(sort)
            session.flush()
            session.execute(insert(SortOperation), [{**row, "sort_id": sort.id} for row in rows])
            return sort.id
    except _Stop as stop:
        safe_files.remove_empty_dirs([Path(path) for path in created])
        raise SortError(stop.not_started()) from stop
    except BaseException:
        safe_files.remove_empty_dirs([Path(path) for path in created])
        raise


def _prepare_destination(destination: Path) -> list[str]:
    """Create the destination and write a probe file there; returns the folders created, deepest first."""
    missing = []
    path = destination
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    try:
        destination.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=destination, prefix=".pigeonhole-probe-")
        try:
            os.write(fd, b"pigeonhole")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        safe_files.remove_empty_dirs(missing)
        raise SortError(f"Cannot write to {destination}: {_why(exc)}. Choose another destination.") from exc
    return [str(path) for path in missing]


# --- running and resuming -----------------------------------------------------------------------------------------

def run_sort(project: Project, sort_id: int, on_progress: Callable[[SortProgress], None] | None = None,
             cancel: CancelToken | None = None) -> SortResult:
    """Copy or move every photo of a started sort that is not done yet; the same call resumes an interrupted
    one: operations a crash left half done are settled from what is on the disk, then the rest is done, and
    failed ones are tried again (their cause, a full disk, may be gone). Cancelling (checked between photos) or
    a full disk leaves the sort ``partial``: run it again later, or undo it."""
    cancel = cancel or NeverCancel()
    report = on_progress or (lambda _progress: None)
    with exclusive_sorting(project):
        sort = _load_sort(project, sort_id)
        if sort.status in (SortStatus.UNDOING, SortStatus.UNDONE):
            raise SortError(f"Sort #{sort_id} was undone (or is being undone); it cannot be resumed.")
        sort_run = _SortRun(project, sort)
        todo = [op for op in sort_run.ops if op.state in (OpState.PLANNED, OpState.STARTED, OpState.FAILED)]
        stopped: str | None = None
        cancelled = False
        with sort_run.journal:
            try:
                if todo and not sort_run.destination.is_dir():
                    stopped = (f"The destination folder {sort_run.destination} is not available (was its drive "
                               "disconnected?). Reconnect it, then resume.")
                    sort_run.set_status(SortStatus.PARTIAL)
                    return sort_result(project, sort_id, stopped=stopped)
                sort_run.set_status(SortStatus.RUNNING)
                for op in todo:
                    if cancel.is_set():
                        cancelled = True
                        break
                    report(sort_run.progress(op.source))
                    try:
                        sort_run.sort_one(op)
                    except _Failed as failure:
                        sort_run.record(op, OpState.FAILED, failure.reason)
                    except OSError as exc:  # the disk misbehaved while checking: the state stays as it is
                        sort_run.note(op, f"{op.source}: {_why(exc)}.")
                    except _Stop as stop:
                        if stop.op_reason is not None:
                            sort_run.record(op, OpState.FAILED, stop.op_reason)
                        with contextlib.suppress(_Stop):  # on one disk, the journal may be full too
                            sort_run.flush()
                        stopped = stop.message(sort_run.count(OpState.DONE), len(sort_run.ops))
                        break
                sort_run.flush()
                report(sort_run.progress(""))
            except _Stop as stop:  # the journal could not be written: the disk decides on resume
                stopped = stopped or stop.message(sort_run.count(OpState.DONE), len(sort_run.ops))
            finally:
                left = any(op.state in (OpState.PLANNED, OpState.STARTED) for op in sort_run.ops)
                with contextlib.suppress(Exception):  # the journal already says "running": resumable either way
                    sort_run.flush()
                    sort_run.set_status(SortStatus.PARTIAL if left or stopped else SortStatus.DONE)
    return sort_result(project, sort_id, cancelled=cancelled, stopped=stopped)


# --- undo ---------------------------------------------------------------------------------------------------------

def undo_sort(project: Project, sort_id: int | None = None,
              on_progress: Callable[[SortProgress], None] | None = None,
              cancel: CancelToken | None = None) -> UndoResult:
    """Put a sort's photos back, newest first (default: the newest sort not undone yet).

    Moves go back to where they came from, byte for byte; if something now has that name, the photo is put
    beside it as "name (2).jpg". A copy is deleted only if it is unchanged and its original is still there.
    Folders the sort created are removed once empty. Works on interrupted sorts too.
    """
    cancel = cancel or NeverCancel()
    report = on_progress or (lambda _progress: None)
    if sort_id is None:
        with project.sessions() as session:
            sort_id = session.scalar(select(Sort.id).where(Sort.status != SortStatus.UNDONE).order_by(Sort.id.desc()))
        if sort_id is None:
            raise SortError("There is no sort to undo.")
    with exclusive_sorting(project):
        sort = _load_sort(project, sort_id)
        _refuse_if_newer_sort_depends(project, sort)
        sort_run = _SortRun(project, sort)
        result = UndoResult(sort_id, sort.mode, sort.status)
        todo = [op for op in reversed(sort_run.ops) if op.state in (OpState.STARTED, OpState.DONE, OpState.UNDOING)]
        with sort_run.journal:
            try:
                sort_run.set_status(SortStatus.UNDOING)
            except _Stop as stop:
                raise SortError(stop.message(0, len(todo), undo=True)) from stop
            if todo and not sort_run.destination.is_dir():
                result.stopped = (f"The folder {sort_run.destination} is not available (was its drive disconnected?). "
                                  "Reconnect it, then undo again.")
                todo = []
            try:
                for op in todo:
                    if cancel.is_set():
                        result.cancelled = True
                        break
                    report(sort_run.progress(op.destination, undo=True))
                    try:
                        sort_run.undo_one(op, result)
                    except _Failed as failure:
                        # Nothing half done is left behind a _Failed: the photo is still in the sorted folder.
                        state = {OpState.UNDOING: OpState.DONE, OpState.STARTED: OpState.FAILED}.get(op.state)
                        sort_run.record(op, state or op.state, failure.reason)
                        result.kept.append((op.destination, failure.reason))
                    except OSError as exc:
                        sort_run.note(op, _why(exc))
                        result.kept.append((op.destination, f"it could not be checked ({_why(exc)}), so it was left"))
                    except _Stop as stop:
                        result.stopped = stop.message(sort_run.count(OpState.UNDONE), len(todo), undo=True)
                        break
                sort_run.flush()
            except _Stop as stop:  # the journal could not be written
                result.stopped = stop.message(sort_run.count(OpState.UNDONE), len(todo), undo=True)
            finally:
                with contextlib.suppress(Exception):  # the sort stays "undoing": undo it again to finish
                    sort_run.flush()
            report(sort_run.progress("", undo=True))
            if not (result.cancelled or result.stopped):
                result.removed_folders = sort_run.remove_created_folders()
                try:
                    sort_run.forget_created_folder()
                    sort_run.set_status(SortStatus.UNDONE)
                except _Stop as stop:  # every photo is back; undoing again finishes the bookkeeping
                    result.stopped = stop.message(sort_run.count(OpState.UNDONE), len(todo), undo=True)
        result.status = _load_sort(project, sort_id).status
    return result


def _refuse_if_newer_sort_depends(project: Project, sort: _SortRow) -> None:
    """Undoing an older sort under a newer move-sort that took its output would scatter the photos."""
    with project.sessions() as session:
        newer = session.scalars(select(Sort.id).where(Sort.id > sort.id, Sort.mode == MOVE,
                                                      Sort.status != SortStatus.UNDONE)).all()
        if not newer:
            return
        ours = set(session.scalars(select(SortOperation.destination).where(
            SortOperation.sort_id == sort.id, SortOperation.state.in_((OpState.DONE, OpState.STARTED)))))
        for newer_id in newer:
            sources = session.scalars(select(SortOperation.source).where(
                SortOperation.sort_id == newer_id,
                SortOperation.state.in_((OpState.DONE, OpState.STARTED, OpState.UNDOING))))
            if any(source in ours for source in sources):
                raise SortError(f"Sort #{newer_id} moved photos out of this sort's folders: undo sort #{newer_id} "
                                "first.")


# --- one sort's run: the state machine of each photo -----------------------------------------------------------

class _Failed(Exception):
    """This photo cannot be sorted (or put back); the others can. ``reason`` is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _SortRun(_JournalledSort):
    """One run (or undo) of a sort: each operation's state machine, from the journal's state and the disk."""

    def __init__(self, project: Project, sort: _SortRow) -> None:
        super().__init__(project, sort)
        self._listed: dict[str, set[str]] = {}  # name keys per destination folder, listed once per run

    def temp_for(self, op: _Op, directory: Path) -> Path:
        # Hidden (the importer skips dot-files) and named after the operation, so a crash's leftovers are found.
        return directory / f"{self._temp_prefix()}{op.id}.part"

    def _temp_prefix(self) -> str:
        # The sort's random token tells two projects' sort #1 apart in a shared destination (older sorts have none).
        token = self.settings.get("token")
        return f".pigeonhole-{self.sort.id}-{token}-" if token else f".pigeonhole-{self.sort.id}-"

    def free_name(self, op: _Op, wanted: Path) -> Path:
        """The first "name (n).ext" beside ``wanted`` that no file, image row or other operation has."""
        for number in range(2, MAX_RENAMES):
            candidate = wanted.parent / numbered(op.source.name, number)
            if name_key(str(candidate)) in self._claimed or self._name_taken(candidate) \
                    or self._indexed(candidate, op):
                continue
            return candidate
        raise _Failed(f"No free name was found for {op.source.name} in {wanted.parent}.")

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

    def sort_one(self, op: _Op) -> None:
        clash = False
        if op.state == OpState.STARTED:  # interrupted: the disk says how far it got
            outcome = self._settle_forward(op)
            if outcome == Settled.DONE:
                self.record(op, OpState.DONE, repoint=self._repoint_for(op))
                return
            clash = outcome == Settled.CLASH
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
        raise _Failed(f"No free name was found for {op.source.name} in {op.destination.parent}.")

    def _repoint_for(self, op: _Op) -> tuple[Path, Path] | None:
        return (op.source, op.destination) if self.sort.mode == MOVE else None

    def _check_source(self, op: _Op) -> os.stat_result:
        """The source is still the regular file that was planned (its content is checked as it is copied, or
        just before a move on one drive)."""
        try:
            info = os.lstat(op.source)
            if stat.S_ISLNK(info.st_mode):
                if self.sort.mode == MOVE:  # moving it would move the file it points to
                    raise _Failed(f"{op.source} was replaced by a symbolic link after the sort was planned, so it "
                                  "was left alone.")
                info = os.stat(op.source)  # a copy reads through it; the content check says if it is the photo
        except FileNotFoundError:
            raise _Failed(f"{op.source} is no longer there: it was moved or deleted after the sort was "
                          "planned.") from None
        except OSError as exc:
            raise _Failed(f"Cannot read {op.source}: {_why(exc)}.") from exc
        if not stat.S_ISREG(info.st_mode):
            raise _Failed(f"{op.source} is not a regular file any more (a named pipe or device was put in its "
                          "place), so it was left alone.")
        if info.st_size != op.size:
            raise _Failed(f"{op.source} changed after the sort was planned; plan the sort again to include it.")
        return info

    def _refuse_links(self, folder: Path) -> None:
        """Never write through a link put in place of the destination or a class folder during the sort (into
        somebody else's folder, or back into the sources). Checked before each photo."""
        if os.path.realpath(self.destination) != str(self.destination):  # it was resolved when planned
            raise _Stop("link", self.destination, None)
        info = safe_files.lstat_or_none(folder)
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise _Stop("link", folder, None)

    def _make_class_folder(self, directory: Path) -> None:
        try:
            directory.mkdir(exist_ok=True)  # not parents=True: a vanished drive must not be re-created elsewhere
        except FileExistsError:
            raise _Failed(f"Cannot create the folder {directory}: a file with that name is in the way.") from None
        except FileNotFoundError:
            raise _Stop("unavailable", directory.parent, None) from None
        except OSError as exc:
            raise _destination_error(exc, directory) from exc

    def _settle_forward(self, op: _Op) -> Settled:
        temp = self.temp_for(op, op.destination.parent)
        if self.sort.mode == COPY:
            return safe_files.settle_copy(op.destination, op.size, op.content_hash, temp)
        return _settle_move(op.source, op.destination, op.size, op.content_hash, temp)

    def _copy(self, op: _Op, source: Path, target: Path, *, verify: bool) -> None:
        """Copy into a temp file beside ``target``, fsync, check, then publish it without overwriting."""
        temp = self.temp_for(op, target.parent)
        safe_files.remove_leftover(temp)
        try:
            try:
                size, digest = safe_files.copy_file(source, temp)
            except safe_files.SourceError as exc:
                raise _Failed(f"Cannot read {source}: {_why(exc.error)}.") from exc.error
            except OSError as exc:
                raise _destination_error(exc, target.parent) from exc
            if verify and (size, digest) != (op.size, op.content_hash):
                raise _Failed(f"{source} changed after the sort was planned; plan the sort again to include it.")
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
            raise _Failed(f"{target} was written but does not have the size of {source}; it was left there for "
                          "you to check.")

    def _move(self, op: _Op, source: Path, target: Path, info: os.stat_result, *, verify: bool) -> None:
        if info.st_dev == os.stat(target.parent).st_dev:
            if verify:  # a photo edited since planning (even to the same size) is not moved on a stale plan
                try:
                    unchanged = safe_files.hash_file(source) == op.content_hash
                except OSError as exc:
                    raise _Failed(f"Cannot read {source}: {_why(exc)}.") from exc
                if not unchanged:
                    raise _Failed(f"{source} changed after the sort was planned; plan the sort again to include "
                                  "it.")
            try:
                _move_on_drive(source, target)
                return
            except (FileExistsError, _Stop):
                raise
            except safe_files.CrossDevice:
                pass  # another mount of the same drive: copy instead
            except OSError as exc:
                if exc.errno in _DISK_FULL or exc.errno == errno.EROFS:  # no later photo would fare better
                    raise _destination_error(exc, target.parent) from exc
                # Permission problems may be the source folder's, so only this photo fails.
                raise _Failed(f"Cannot move {source} to {target.parent}: {_why(exc)}.") from exc
        # Another drive: copy, verify, make the copy durable, and only then delete the original.
        self._copy(op, source, target, verify=verify)
        safe_files.fsync_dir(target.parent)
        _drop_original(source, target)

    # putting one photo back ----------------------------------------------------------------------------------------

    def undo_one(self, op: _Op, result: UndoResult) -> None:
        self._refuse_links(op.destination.parent)
        if op.state == OpState.STARTED:
            if self._settle_forward(op) != Settled.DONE:
                self.record(op, OpState.PLANNED)  # it never reached the destination: nothing to put back
                return
            self.record(op, OpState.DONE, repoint=self._repoint_for(op))
        if self.sort.mode == COPY:
            self._delete_copy(op, result)
        else:
            self._move_back(op, result)

    def _delete_copy(self, op: _Op, result: UndoResult) -> None:
        copy = op.destination
        try:
            info = os.lstat(copy)
        except FileNotFoundError:
            self.record(op, OpState.UNDONE, "the copy was already gone")
            return
        except OSError as exc:
            raise _Failed(f"it cannot be read ({_why(exc)}), so it was kept") from exc
        if info.st_size != op.size or safe_files.hash_file(copy) != op.content_hash:
            raise _Failed("it changed after the sort, so it was kept")
        # Deleting a copy must never delete the last copy of a photo.
        original = safe_files.lstat_or_none(op.source, follow=True)
        if original is None or os.path.samestat(original, info) or original.st_size != op.size \
                or safe_files.hash_file(op.source) != op.content_hash:
            raise _Failed(f"the original {op.source} is gone or changed, so this copy was kept")
        try:
            os.unlink(copy)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _Failed(f"it cannot be deleted ({_why(exc)}), so it was kept") from exc
        self.record(op, OpState.UNDONE)
        result.deleted.append(copy)

    def _move_back(self, op: _Op, result: UndoResult) -> None:
        home = Path(self.settings.get("restored_to", {}).get(str(op.id), op.source))
        clash = False
        if op.state == OpState.UNDOING:
            outcome = _settle_move(op.destination, home, op.size, op.content_hash, self.temp_for(op, home.parent))
            if outcome == Settled.DONE:
                self._restored(op, home, result)
                return
            clash = outcome == Settled.CLASH
        info = safe_files.lstat_or_none(op.destination)
        if info is None:
            raise _Failed("it is no longer there (moved or deleted after the sort), so it cannot be put back")
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
        raise _Failed(f"no free name was found beside {op.source}")

    def _make_home_folder(self, home: Path) -> None:
        """Re-create a source folder the user removed once it was empty, but only on a drive that is there:
        re-creating /media/card/DCIM on the system disk would hide the photos under the card's mount point."""
        if home.parent.is_dir():
            return
        with self.journal.write() as session:
            if self._folders is None:
                self._folders = _Folders.load(session)
        anchor = self._folders.root_of(home) or home.parent.parent
        if not anchor.is_dir():
            raise _Stop("unavailable", anchor, None)
        try:
            home.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _Failed(f"its folder {home.parent} cannot be created again ({_why(exc)})") from exc

    def _restored(self, op: _Op, home: Path, result: UndoResult) -> None:
        self.record(op, OpState.UNDONE, None if home == op.source else f"put back as {home}",
                    repoint=(op.destination, home))
        result.restored.append((op.destination, home))
        if home != op.source:
            result.renamed.append((op.source, home))

    def remove_created_folders(self) -> list[Path]:
        """Class folders this sort created, and the destination if it made it, once they are empty."""
        existing = set(self.settings.get("existing_dirs", []))
        class_folders = sorted({op.destination.parent for op in self.ops if str(op.destination.parent) not in existing},
                               key=lambda path: len(path.parts), reverse=True)
        for folder in class_folders:
            for leftover in folder.glob(f"{glob_escape(self._temp_prefix())}*.part"):  # ours, never the only copy
                safe_files.remove_leftover(leftover)
        return safe_files.remove_empty_dirs([*class_folders, *(Path(p) for p in self.settings.get("created_dirs", []))])


# --- file steps with the sort's own outcomes ---------------------------------------------------------------------

def _settle_move(origin: Path, target: Path, size: int, digest: str, temp: Path) -> Settled:
    try:
        return safe_files.settle_move(origin, target, size, digest, temp)
    except safe_files.Vanished as gone:
        raise _Failed(str(gone)) from gone


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
            raise _Stop("stuck", target.parent, None) from exc
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
        raise _Failed(f"Cannot move {source} out of its folder: {_why(exc)}.") from exc


def _destination_error(exc: OSError, where: Path) -> Exception:
    if exc.errno in _DISK_FULL:
        return _Stop("full", where, "The destination disk is full.")
    if exc.errno in _READ_ONLY:
        return _Stop(_why(exc), where, f"Cannot write to {where}: {_why(exc)}.")
    if exc.errno in (errno.ENOENT, errno.ENODEV, errno.EIO):
        return _Stop("unavailable", where, f"{where} is not available.")
    return _Failed(f"Cannot write to {where}: {_why(exc)}.")
