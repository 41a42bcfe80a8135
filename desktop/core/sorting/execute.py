"""Starting, running (and resuming) and undoing a sort: the journal written before any photo is touched, then
one loop that walks the photos forward (sort) or back (undo) through ``desktop.core.sorting.steps``, under the
project's sorting lock. ``sort_plan`` is the one place that journals a plan and runs it under one hold of the
lock: the Sort dialog, the CLI and the tests call it."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select, update

from desktop.core.project import Project
from desktop.core.sorting.folders import levels_below
from desktop.core.sorting.journal import Journal, Op, SortRecord, exclusive_sorting, load_sort, sort_result
from desktop.core.sorting.model import (
    MOVE,
    OpState,
    SortError,
    SortPlan,
    SortProgress,
    SortResult,
    SortStatus,
    UndoResult,
    os_error_reason,
)
from desktop.core.sorting.settings import PlanCounts, SortSettings
from desktop.core.sorting.steps import PhotoFailed, SortRun
from desktop.core.sorting.stops import Stop
from desktop.db.models import Sort, SortOperation
from desktop.io import safe_files
from desktop.progress import CancelToken, NeverCancel

ProgressCallback = Callable[[SortProgress], None]


def sort_plan(project: Project, plan: SortPlan, on_progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None, on_started: Callable[[int], None] | None = None) -> SortResult:
    """Journal ``plan`` and sort its photos, holding the sorting lock from the journal's first row to the last
    photo, so no other sort, resume or undo can slip in between. ``on_started(sort_id)`` is told the new sort's
    id once it is journalled (a caller interrupted later knows what to resume)."""
    with exclusive_sorting(project):
        sort_id = start_sort(project, plan)
        if on_started is not None:
            on_started(sort_id)
        return run_sort(project, sort_id, on_progress, cancel)


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
    class_folders = sorted({str(level) for op in plan.operations
                            for level in levels_below(plan.destination, op.destination.parent)})
    settings = SortSettings(
        follow_labels=plan.follow_labels,
        existing_dirs=tuple(folder for folder in class_folders if os.path.isdir(folder)),
        created_dirs=tuple(created),
        token=secrets.token_hex(4),
        plan=PlanCounts(from_labels=plan.from_labels, below_threshold=plan.below_threshold,
                        unpredicted=plan.unpredicted, already_sorted=plan.already_sorted, skipped=len(plan.skipped),
                        expected_mistakes=round(plan.expected_mistakes, 4)),
        rule=plan.rule,
        set_aside=plan.set_aside,
    )
    rows = [
        {"image_id": op.image_id, "source": str(op.source), "destination": str(op.destination),
         "class_name": op.class_name, "content_hash": op.content_hash, "size": op.size, "state": OpState.PLANNED,
         "companion_of": None}
        for op in plan.operations
    ]
    try:
        with Journal(project) as journal, journal.write() as session:
            sort = Sort(destination=str(plan.destination), mode=plan.mode, threshold=plan.threshold,
                        model_id=plan.model_id, status=SortStatus.PLANNED, settings=settings.as_dict())
            session.add(sort)
            session.flush()
            session.execute(insert(SortOperation), [{**row, "sort_id": sort.id} for row in rows])
            # Rows are numbered in the plan's order: a companion's photo is found by its index in the plan.
            ids = session.scalars(select(SortOperation.id).where(SortOperation.sort_id == sort.id)
                                  .order_by(SortOperation.id)).all()
            for op_id, op in zip(ids, plan.operations, strict=True):
                if op.companion_of is not None:
                    session.execute(update(SortOperation).where(SortOperation.id == op_id)
                                    .values(companion_of=ids[op.companion_of]))
            return sort.id
    except Stop as stop:
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
        raise SortError(f"Cannot write to {destination}: {os_error_reason(exc)}. Choose another destination.") from exc
    return [str(path) for path in missing]


# --- one loop for both ways ---------------------------------------------------------------------------------------

@dataclass
class _Walked:
    cancelled: bool = False
    stopped: str | None = None  # why the walk stopped early, as a sentence


def _walk(run: SortRun, todo: Sequence[Op], step: Callable[[Op], None], failed: Callable[[Op, str], None],
          unchecked: Callable[[Op, OSError], None], stop_message: Callable[[Stop], str], report: ProgressCallback,
          cancel: CancelToken, *, undo: bool) -> _Walked:
    """Take each operation one step (sort it, or put it back), journalled one photo at a time. A photo that
    fails is ``failed`` and the walk goes on; one whose disk misbehaved while it was checked is ``unchecked``
    (its state stays); a :class:`Stop` ends the walk with its sentence, as does a journal that cannot be
    written (what it said before is still true: the disk decides on resume). Cancelling is checked between
    photos."""
    walked = _Walked()
    try:
        for op in todo:
            if cancel.is_set():
                walked.cancelled = True
                break
            report(run.progress(op.destination if undo else op.source, undo=undo))
            try:
                step(op)
            except PhotoFailed as failure:
                failed(op, failure.reason)
            except OSError as exc:
                unchecked(op, exc)
            except Stop as stop:
                if stop.op_reason is not None and not undo:  # undone, the photo stays as the journal says
                    run.record(op, OpState.FAILED, stop.op_reason)
                walked.stopped = stop_message(stop)
                break
        run.flush()
    except Stop as stop:  # the journal could not be written
        walked.stopped = walked.stopped or stop_message(stop)
    finally:
        with contextlib.suppress(Exception):  # on one disk, the journal may be full too: the disk decides later
            run.flush()
    report(run.progress("", undo=undo))
    return walked


# --- running and resuming -----------------------------------------------------------------------------------------

def run_sort(project: Project, sort_id: int, on_progress: ProgressCallback | None = None,
             cancel: CancelToken | None = None) -> SortResult:
    """Copy or move every photo of a started sort that is not done yet; the same call resumes an interrupted
    one: operations a crash left half done are settled from what is on the disk, then the rest is done, and
    failed ones are tried again (their cause, a full disk, may be gone). Cancelling (checked between photos) or
    a full disk leaves the sort ``partial``: run it again later, or undo it."""
    with exclusive_sorting(project):
        sort = load_sort(project, sort_id)
        if sort.status in (SortStatus.UNDOING, SortStatus.UNDONE):
            raise SortError(f"Sort #{sort_id} was undone (or is being undone); it cannot be resumed.")
        run = SortRun(project, sort)
        todo = [op for op in run.ops if op.state in (OpState.PLANNED, OpState.STARTED, OpState.FAILED)]
        cancelled, stopped = False, None
        with run.journal:
            try:
                if todo and not run.destination.is_dir():
                    stopped = (f"The destination folder {run.destination} is not available (was its drive "
                               "disconnected?). Reconnect it, then resume.")
                    run.set_status(SortStatus.PARTIAL)
                    return sort_result(project, sort_id, stopped=stopped)
                run.set_status(SortStatus.RUNNING)
                walked = _walk(
                    run, todo, run.sort_one,
                    failed=lambda op, reason: run.record(op, OpState.FAILED, reason),
                    unchecked=lambda op, exc: run.note(op, f"{op.source}: {os_error_reason(exc)}."),
                    stop_message=lambda stop: stop.message(run.count(OpState.DONE), len(run.ops)),
                    report=on_progress or _ignore, cancel=cancel or NeverCancel(), undo=False)
                cancelled, stopped = walked.cancelled, walked.stopped
            except Stop as stop:  # the journal could not be written: the disk decides on resume
                stopped = stopped or stop.message(run.count(OpState.DONE), len(run.ops))
            finally:
                left = any(op.state in (OpState.PLANNED, OpState.STARTED) for op in run.ops)
                with contextlib.suppress(Exception):  # the journal already says "running": resumable either way
                    run.set_status(SortStatus.PARTIAL if left or stopped else SortStatus.DONE)
    # A stop for a full journal left the last outcomes unrecorded: the run's own ops still know them.
    return sort_result(project, sort_id, cancelled=cancelled, stopped=stopped, ops=run.ops if stopped else None)


# --- undo ---------------------------------------------------------------------------------------------------------

def undo_sort(project: Project, sort_id: int | None = None, on_progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> UndoResult:
    """Put a sort's photos back, newest first (default: the newest sort not undone yet).

    Moves go back to where they came from, byte for byte; if something now has that name, the photo is put
    beside it as "name (2).jpg". A copy is deleted only if it is unchanged and its original is still there.
    Folders the sort created are removed once empty. Works on interrupted sorts too.
    """
    if sort_id is None:
        with project.sessions() as session:
            sort_id = session.scalar(select(Sort.id).where(Sort.status != SortStatus.UNDONE).order_by(Sort.id.desc()))
        if sort_id is None:
            raise SortError("There is no sort to undo.")
    with exclusive_sorting(project):
        sort = load_sort(project, sort_id)
        _refuse_if_newer_sort_depends(project, sort)
        run = SortRun(project, sort)
        result = UndoResult(sort_id, sort.mode, sort.status)
        todo = [op for op in _photo_first(reversed(run.ops))
                if op.state in (OpState.STARTED, OpState.DONE, OpState.UNDOING)]

        def stop_message(stop: Stop) -> str:
            return stop.message(run.count(OpState.UNDONE), len(todo), undo=True)

        def failed(op: Op, reason: str) -> None:
            # Nothing half done is left behind a PhotoFailed: the photo is still in the sorted folder.
            state = {OpState.UNDOING: OpState.DONE, OpState.STARTED: OpState.FAILED}.get(op.state)
            run.record(op, state or op.state, reason)
            result.kept.append((op.destination, reason))

        def unchecked(op: Op, exc: OSError) -> None:
            run.note(op, os_error_reason(exc))
            result.kept.append((op.destination, f"it could not be checked ({os_error_reason(exc)}), so it was left"))

        with run.journal:
            try:
                run.set_status(SortStatus.UNDOING)
            except Stop as stop:
                raise SortError(stop_message(stop)) from stop
            if todo and not run.destination.is_dir():
                result.stopped = (f"The folder {run.destination} is not available (was its drive disconnected?). "
                                  "Reconnect it, then undo again.")
                todo = []
            walked = _walk(run, todo, lambda op: run.undo_one(op, result), failed, unchecked, stop_message,
                           on_progress or _ignore, cancel or NeverCancel(), undo=True)
            result.cancelled = walked.cancelled
            result.stopped = result.stopped or walked.stopped
            if not (result.cancelled or result.stopped):
                result.removed_folders = run.remove_created_folders()
                try:
                    run.forget_created_folder()
                    run.set_status(SortStatus.UNDONE)
                except Stop as stop:  # every photo is back; undoing again finishes the bookkeeping
                    result.stopped = stop_message(stop)
        result.status = load_sort(project, sort_id).status
    return result


def _photo_first(ops: Iterable[Op]) -> list[Op]:
    """Newest first, but each photo before its companions: a companion goes back only once its photo did."""
    ops = list(ops)
    companions: dict[int, list[Op]] = {}
    for op in ops:
        if op.companion_of is not None:
            companions.setdefault(op.companion_of, []).append(op)
    leaders = {op.id for op in ops if op.companion_of is None}
    ordered: list[Op] = []
    for op in ops:
        if op.companion_of is None:
            ordered.append(op)
            ordered.extend(reversed(companions.get(op.id, [])))
        elif op.companion_of not in leaders:
            ordered.append(op)
    return ordered


def _refuse_if_newer_sort_depends(project: Project, sort: SortRecord) -> None:
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


def _ignore(_progress: SortProgress) -> None:
    pass
