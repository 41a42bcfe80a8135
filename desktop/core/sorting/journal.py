"""The sort's journal in the project database: written before any file is touched, one commit per photo on
disk (synchronous=FULL); the lock that lets one sort run per project; reading sorts and their operations back."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from desktop.core.project import Project
from desktop.core.sorting.folders import ProjectFolders
from desktop.core.sorting.model import (
    BUSY_MESSAGE,
    SORT_LOCK_NAME,
    UNFINISHED,
    OpState,
    SortError,
    SortFailure,
    SortProgress,
    SortResult,
    SortSummary,
    describe_rule,
)
from desktop.core.sorting.settings import SortSettings
from desktop.core.sorting.stops import Stop, StopKind
from desktop.db.models import Folder, Image, Sort, SortOperation
from desktop.errors import PigeonholeError
from desktop.io.file_names import name_key
from desktop.io.locks import exclusive_lock, is_locked


@dataclass
class SortRecord:
    """A sort's row in the journal."""

    id: int
    destination: str
    mode: str
    status: str
    settings: SortSettings


@dataclass
class Op:
    """One photo's operation as the journal has it: its state changes as the run or undo goes."""

    id: int
    image_id: int | None
    source: Path
    destination: Path
    class_name: str
    content_hash: str
    size: int
    state: str
    error: str | None
    companion_of: int | None = None  # a companion file's photo: that photo's operation id


class Journal:
    """One connection with synchronous=FULL: each commit is on disk before the next file is touched."""

    def __init__(self, project: Project) -> None:
        self._project_path = project.path
        self._connection: Connection = project.engine.connect()
        self._connection.exec_driver_sql("PRAGMA synchronous=FULL")
        self._connection.commit()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction. If SQLite cannot write it (a full or failing disk), it is rolled back and the run
        stops with :class:`Stop`: what the journal said before is still true, and the disk settles the rest."""
        try:
            with Session(bind=self._connection, expire_on_commit=False) as session, session.begin():
                yield session
        except DBAPIError as exc:
            driver = exc.orig
            if not isinstance(driver, sqlite3.Error):
                raise
            code = getattr(driver, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
            kind = {sqlite3.SQLITE_FULL: StopKind.PROJECT_FULL, sqlite3.SQLITE_BUSY: StopKind.PROJECT_BUSY,
                    sqlite3.SQLITE_LOCKED: StopKind.PROJECT_BUSY}.get(code, StopKind.PROJECT_BROKEN)
            raise Stop(kind, self._project_path, None, str(driver).rstrip(".")) from exc

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            self._connection.exec_driver_sql("PRAGMA synchronous=NORMAL")  # the engine's setting, for reuse
            self._connection.commit()
        self._connection.close()


_held = threading.local()  # the projects whose sorting lock this thread holds


@contextmanager
def exclusive_sorting(project: Project) -> Iterator[None]:
    """Hold the project's sorting lock, or raise :class:`desktop.io.locks.Busy` with :data:`BUSY_MESSAGE`.

    Two runs on one sort would race each other's reconciliation (and undo under a run would scatter photos), so
    one project runs one sort, undo or start at a time, whichever process or window asks. Taken again by the same
    thread it is already held (a caller may hold it from ``start_sort`` to the last photo); another thread of
    this process opens its own descriptor, so it is refused like another process."""
    held: set[str] = _held.__dict__.setdefault("projects", set())
    key = str(project.path)
    if key in held:
        yield
        return
    with exclusive_lock(project.path / SORT_LOCK_NAME, BUSY_MESSAGE):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


def load_sort(project: Project, sort_id: int) -> SortRecord:
    with project.sessions() as session:
        sort = session.get(Sort, sort_id)
        if sort is None:
            raise SortError(f"There is no sort #{sort_id} in this project.")
        return SortRecord(sort.id, sort.destination, sort.mode, sort.status, SortSettings.from_dict(sort.settings))


def load_ops(project: Project, sort_id: int) -> list[Op]:
    with project.sessions() as session:
        rows = session.execute(
            select(SortOperation.id, SortOperation.image_id, SortOperation.source, SortOperation.destination,
                   SortOperation.class_name, SortOperation.content_hash, SortOperation.size, SortOperation.state,
                   SortOperation.error, SortOperation.companion_of)
            .where(SortOperation.sort_id == sort_id).order_by(SortOperation.id)
        ).all()
    return [Op(r[0], r[1], Path(r[2]), Path(r[3]), r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]


def sort_result(project: Project, sort_id: int, *, cancelled: bool = False, stopped: str | None = None,
                ops: Sequence[Op] | None = None) -> SortResult:
    """Where a sort stands, from its journal: what was sorted where, what failed and why. ``ops``: the run's own
    view, when the journal could not record its last steps (a full project disk): the counts then agree with
    the sentence that says how many photos were sorted, and with the disk."""
    sort = load_sort(project, sort_id)
    ops = load_ops(project, sort_id) if ops is None else ops
    photos = [op for op in ops if op.companion_of is None]  # the counts are of photos; a companion fails aloud
    done = [op for op in photos if op.state == OpState.DONE]
    counts = sort.settings.plan
    return SortResult(
        sort_id=sort_id, mode=sort.mode, destination=Path(sort.destination), status=sort.status,
        planned=len(photos), done=len(done),
        failed=[SortFailure(op.source, op.destination, op.error or "unknown") for op in ops
                if op.state == OpState.FAILED],
        per_class=dict(Counter(op.class_name for op in done)),
        operations=[(op.source, op.destination) for op in ops if op.state == OpState.DONE],
        remaining=sum(op.state in (OpState.PLANNED, OpState.STARTED) for op in photos),
        unpredicted=counts.unpredicted, skipped=counts.skipped, cancelled=cancelled, stopped=stopped,
        rule=dict(sort.settings.rule), expected_mistakes=counts.expected_mistakes,
    )


def sort_in_progress(project: Project) -> bool:
    """Whether a sort, resume or undo of this project is running now (in any process or window). A project
    that never sorted, or whose folder cannot be written, has no lock file to probe: nothing runs there."""
    lock = project.path / SORT_LOCK_NAME
    if not lock.exists():
        return False
    try:
        return is_locked(lock)
    except PigeonholeError:
        return False


def interrupted_sorts(project: Project) -> list[SortSummary]:
    """Sorts that did not finish (the app stopped, or they were cancelled): offer to resume or undo them."""
    return [summary for summary in list_sorts(project) if summary.status in UNFINISHED]


def list_sorts(project: Project) -> list[SortSummary]:
    """Every sort of the project, newest first."""
    with project.sessions() as session:
        counts: dict[int, Counter[str]] = {}
        for sort_id, state, count in session.execute(
            select(SortOperation.sort_id, SortOperation.state, func.count()).group_by(SortOperation.sort_id,
                                                                                       SortOperation.state)
        ):
            counts.setdefault(sort_id, Counter())[state] = count
        sorts = session.scalars(select(Sort).order_by(Sort.id.desc())).all()
        return [
            SortSummary(sort.id, sort.created_at, Path(sort.destination), sort.mode, sort.status,
                        sum(counts.get(sort.id, Counter()).values()), counts.get(sort.id, Counter())[OpState.DONE],
                        counts.get(sort.id, Counter())[OpState.FAILED],
                        describe_rule(dict(SortSettings.from_dict(sort.settings).rule)))
            for sort in sorts
        ]


class JournalledSort:
    """One sort's journal as a run or an undo changes it: operation states committed one photo at a time, the
    project's image rows following moved photos, and progress counted from the states."""

    def __init__(self, project: Project, sort: SortRecord) -> None:
        self.project = project
        self.sort = sort
        self.destination = Path(sort.destination)
        self.ops = load_ops(project, sort.id)
        self.journal = Journal(project)
        self.settings = sort.settings
        self._pending: list[tuple[Op, str, str | None, tuple[Path, Path] | None]] = []
        # Every place of this sort, so a renamed photo never takes a name another operation holds or returns to.
        self._claimed = {name_key(str(path)) for op in self.ops for path in (op.source, op.destination)}
        self._folders: ProjectFolders | None = None

    def record(self, op: Op, state: str, error: str | None = None,
               repoint: tuple[Path, Path] | None = None) -> None:
        """Remember an outcome; it is committed with the next ``started`` (one commit per photo), or by flush().
        Until then a crash leaves the operation ``started``, which the disk resolves."""
        op.state, op.error = state, error
        self._pending.append((op, state, error, repoint))

    def note(self, op: Op, error: str) -> None:
        self.record(op, op.state, error)

    def flush(self) -> None:
        if self._pending:
            with self._write() as session:
                self._apply(session)

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A journal transaction; the outcomes it carries are forgotten only once it is committed."""
        settings = self.settings
        try:
            with self.journal.write() as session:
                yield session
        except Stop:
            self.settings, self._folders = settings, None  # what the rolled-back transaction had added
            raise
        self._pending.clear()

    def begin(self, op: Op, state: str, destination: Path | None = None, restore_as: Path | None = None) -> None:
        """Durably mark ``op`` as being worked on, with where its file goes, before the file is touched."""
        with self._write() as session:
            self._apply(session)
            values: dict[str, Any] = {"state": state, "error": None}
            if destination is not None:
                values["destination"] = str(destination)
            session.execute(update(SortOperation).where(SortOperation.id == op.id).values(**values))
            if restore_as is not None:  # put back beside its old place, which is taken
                self.settings = self.settings.restoring(op.id, str(restore_as))
                session.execute(update(Sort).where(Sort.id == self.sort.id).values(settings=self.settings.as_dict()))
        if destination is not None and destination != op.destination:
            self._claimed.add(name_key(str(destination)))
            op.destination = destination
        op.state, op.error = state, None

    def set_status(self, status: str) -> None:
        with self._write() as session:
            self._apply(session)
            session.execute(update(Sort).where(Sort.id == self.sort.id).values(status=status))
        self.sort.status = status

    def _apply(self, session: Session) -> None:
        for op, state, error, repoint in self._pending:
            session.execute(update(SortOperation).where(SortOperation.id == op.id).values(state=state, error=error))
            if repoint is not None and op.image_id is not None:
                self._repoint_image(session, op.image_id, *repoint)

    def _repoint_image(self, session: Session, image_id: int, old: Path, new: Path) -> None:
        """The project follows a moved photo, so its label and predictions stay attached."""
        image = session.get(Image, image_id)
        if image is None:
            return
        folder = session.get(Folder, image.folder_id)
        if self.settings.set_aside:
            # A duplicate moved aside keeps its row (and label) at its old place, marked missing, so it is out
            # of the project and a re-import does not bring it back; its undo marks it present again.
            if folder is not None and Path(folder.root) / image.rel_path in (old, new):
                image.missing = Path(folder.root) / image.rel_path == old
            return
        if folder is None or Path(folder.root) / image.rel_path != old:
            return  # the project no longer points at the old place: leave the row as the user made it
        if self._folders is None:
            self._folders = ProjectFolders.load(session)
        owners = self._folders.owners(new)
        if not owners and new.is_relative_to(self.destination):
            created = Folder(root=str(self.destination), labels_from_subfolders=False)
            session.add(created)
            session.flush()
            self._folders.add(created.id, self.destination)
            self.settings = dataclasses.replace(self.settings, created_folder_id=created.id)
            session.execute(update(Sort).where(Sort.id == self.sort.id).values(settings=self.settings.as_dict()))
            owners = self._folders.owners(new)
        # Nested project folders list one file in each: the row takes the first place no other row has.
        for folder_id, rel_path in owners:
            taken = session.scalar(select(Image.id).where(Image.folder_id == folder_id, Image.rel_path == rel_path,
                                                          Image.id != image.id))
            if taken is None:
                image.folder_id, image.rel_path, image.missing = folder_id, rel_path, False
                return
        # Put back into a folder removed from the project, or scanned in by a concurrent import: keep both rows,
        # this one marked missing.
        image.missing = True

    def _indexed(self, path: Path, op: Op) -> bool:
        """Whether another image row of the project has this path (the operation's own photo does not count)."""
        with self.journal.write() as session:
            if self._folders is None:
                self._folders = ProjectFolders.load(session)
            owner = self._folders.owner(path)
            return owner is not None and session.scalar(
                select(Image.id).where(Image.folder_id == owner[0], Image.rel_path == owner[1],
                                       Image.id != (op.image_id or -1))) is not None

    def count(self, state: str) -> int:
        return sum(op.state == state for op in self.ops)

    def progress(self, current: Path | str, *, undo: bool = False) -> SortProgress:
        if undo:
            done = self.count(OpState.UNDONE)
            total = done + sum(op.state in (OpState.STARTED, OpState.DONE, OpState.UNDOING) for op in self.ops)
            return SortProgress(done, total, 0, str(current), "undo")
        return SortProgress(self.count(OpState.DONE), len(self.ops), self.count(OpState.FAILED), str(current))

    def forget_created_folder(self) -> None:
        """Drop the project folder this sort added for its destination, if no image is in it any more."""
        folder_id = self.settings.created_folder_id
        if folder_id is None:
            return
        with self.journal.write() as session:
            if not session.scalar(select(func.count()).select_from(Image).where(Image.folder_id == folder_id)):
                folder = session.get(Folder, folder_id)
                if folder is not None:
                    session.delete(folder)
