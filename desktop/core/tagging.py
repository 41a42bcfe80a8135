"""Keywords out: each photo's class — its label, or its prediction where it meets the sort's precision rule —
written as a keyword into its XMP sidecar (``IMG_1.CR2.xmp``, or the sidecar it already has), never into the
photo. Journalled like a sort: a run is planned, then each sidecar's previous bytes (or that there was none)
are committed before it is written (atomically), so a crash is resumed and undo restores every sidecar byte
for byte — except one another app changed since, which is kept and named."""

from __future__ import annotations

import contextlib
import os
import stat
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select, update

from desktop.core.models_registry import active_model_row
from desktop.core.project import Project
from desktop.core.sorting.journal import Journal
from desktop.core.sorting.model import DEFAULT_PRECISION, DEFAULT_THRESHOLD, fraction_problem
from desktop.core.sorting.precision_rule import held_out_of
from desktop.core.sorting.stops import Stop
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image, ImageClass, Label, Prediction, TagOperation, TagRun
from desktop.db.queries import image_path, with_folder
from desktop.errors import Cancelled, PigeonholeError
from desktop.io import safe_files
from desktop.io.companions import FolderListings, preferred_sidecar
from desktop.io.files import FileReadError, read_regular_file
from desktop.io.locks import exclusive_lock
from desktop.io.xmp import MAX_SIDECAR_BYTES, XmpError
from desktop.io.xmp_write import with_keyword
from desktop.ml.precision import class_rules
from desktop.wording import plural

DEFAULT_HIERARCHY = "Pigeonhole"
TAG_LOCK_NAME = ".tag.lock"
BUSY = "Another Pigeonhole is writing keywords for this project; let it finish, then try again."
UNFINISHED = ("planned", "running", "partial", "undoing")
_UNRECORDED = ("The project cannot record the keywords being written (is its disk full?), so writing stopped; "
               "nothing is lost: resume (tag --resume) or undo (tag --undo) once it can.")


class TagError(PigeonholeError):
    """Keywords cannot be written or undone as asked; the message is for the user."""


@dataclass(frozen=True)
class PlannedTag:
    image_id: int
    photo: Path
    sidecar: Path
    class_name: str
    why: str  # label | prediction


@dataclass
class TagPlan:
    hierarchy: str
    precision: float | None
    model_id: int | None
    tags: list[PlannedTag] = field(default_factory=list)
    unsure: int = 0  # predicted below the precision rule (or not predicted on the current bytes): no keyword
    warnings: list[str] = field(default_factory=list)

    @property
    def per_class(self) -> dict[str, int]:
        return dict(Counter(tag.class_name for tag in self.tags))


@dataclass
class TagResult:
    run_id: int | None
    status: str
    written: int = 0  # sidecars changed (or, undoing: restored)
    unchanged: int = 0  # already said so (or, undoing: nothing to restore)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    per_class: dict[str, int] = field(default_factory=dict)
    undo: bool = False

    @property
    def message(self) -> str:
        if self.undo:
            text = f"{plural(self.written, 'sidecar')} restored as they were"
        elif self.run_id is None:
            text = f"{plural(sum(self.per_class.values()), 'photo')} would get a keyword in its sidecar"
        else:
            text = f"{plural(self.written, 'sidecar')} written, {self.unchanged} already had the keyword"
        if self.failed:
            text += f"; {len(self.failed)} left alone (see the list)"
        return text + "."

    def as_json(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "written": self.written, "unchanged": self.unchanged,
                "per_class": self.per_class, "failed": [{"sidecar": str(p), "reason": r} for p, r in self.failed],
                "message": self.message}


def plan_tags(project: Project, hierarchy: str = DEFAULT_HIERARCHY,
              precision: float | None = DEFAULT_PRECISION) -> TagPlan:
    """Which photo gets which keyword, in which sidecar. Reads only."""
    problem = fraction_problem("precision", precision, "The precision")
    if problem:
        raise TagError(problem)
    if "|" in hierarchy.strip("| "):
        raise TagError("The hierarchy is one keyword, such as “Pigeonhole”: it cannot hold “|”.")
    with project.sessions() as session:
        model = active_model_row(session)
        rows = session.execute(
            with_folder(select(Image.id, Folder.root, Image.rel_path, Image.content_hash, ImageClass.name))
            .outerjoin(Label, Label.image_id == Image.id).outerjoin(ImageClass, ImageClass.id == Label.class_id)
            .where(Image.error.is_(None), Image.missing.is_(False)).order_by(Folder.root, Image.rel_path)).all()
        predictions = {} if model is None else {
            image_id: (digest, index, confidence) for image_id, digest, index, confidence in session.execute(
                select(Prediction.image_id, Prediction.content_hash, Prediction.predicted_index,
                       Prediction.confidence).where(Prediction.model_id == model.id))}
        classes = list(model.class_names) if model else []
        metrics, model_file = (dict(model.metrics or {}), project.path / model.file) if model else (None, None)
    plan = TagPlan(hierarchy.strip("| "), precision, model.id if model else None)
    thresholds: list[float | None] = [DEFAULT_THRESHOLD] * len(classes)
    if model is not None and precision is not None:
        held_out = held_out_of(metrics, model_file, len(classes))
        if held_out is None:
            plan.warnings.append(f"Model #{model.id} keeps no held-out predictions to measure its precision by, so "
                                 f"predictions count from confidence {DEFAULT_THRESHOLD:.2f}; train again to tag "
                                 "by precision.")
        else:
            thresholds = [rule.threshold for rule in class_rules(held_out, precision)]
    listings = FolderListings()  # each folder listed once; a photo looks only at the names sharing its stem

    def sidecar_of(photo: Path) -> Path:
        return preferred_sidecar(photo, listings.near(photo))

    for image_id, root, rel_path, digest, label in rows:
        photo = image_path(root, rel_path)
        if label is not None:
            plan.tags.append(PlannedTag(image_id, photo, sidecar_of(photo), label, "label"))
            continue
        prediction = predictions.get(image_id)
        if prediction is None or prediction[0] != digest or not 0 <= prediction[1] < len(classes):
            plan.unsure += 1
            continue
        threshold = thresholds[prediction[1]]
        if threshold is None or prediction[2] < threshold:
            plan.unsure += 1
            continue
        plan.tags.append(PlannedTag(image_id, photo, sidecar_of(photo), classes[prediction[1]], "prediction"))
    return plan


def start_tags(project: Project, plan: TagPlan) -> int:
    """Journal the plan; no sidecar is touched yet."""
    if not plan.tags:
        raise TagError("No photo has a class to write: label photos, or predict them with a trained model.")
    with _locked(project), transaction(project.sessions) as session:
        unfinished = session.scalar(select(TagRun.id).where(TagRun.status.in_(UNFINISHED)))
        if unfinished is not None:
            raise TagError(f"Tag run #{unfinished} did not finish: resume it (tag --resume) or undo it (tag --undo) "
                           "first.")
        run = TagRun(hierarchy=plan.hierarchy, precision=plan.precision, model_id=plan.model_id, status="planned")
        session.add(run)
        session.flush()
        session.execute(insert(TagOperation), [
            {"run_id": run.id, "image_id": tag.image_id, "sidecar": str(tag.sidecar), "class_name": tag.class_name,
             "existed": False, "state": "planned"} for tag in plan.tags])
        return run.id


def run_tags(project: Project, run_id: int | None = None, on_progress: Callable[[int, int], None] | None = None,
             cancel: Callable[[], bool] | None = None) -> TagResult:
    """Write (or, after a crash, finish writing) every sidecar of a run; the newest unfinished run by default."""
    with _locked(project), Journal(project) as journal:
        run = _run(project, run_id, (*UNFINISHED, "done"))
        if run.status in ("undoing", "undone"):
            raise TagError(f"Tag run #{run.id} was undone; it cannot be resumed.")
        result = TagResult(run.id, "running")
        ops = _ops(project, run.id)
        _set_status(journal, run.id, "running")
        try:
            for number, op in enumerate(ops, 1):
                if cancel is not None and cancel():
                    raise Cancelled()
                if op.state in ("planned", "started", "failed"):
                    _write_one(journal, run.hierarchy, op, result)
                if on_progress is not None:
                    on_progress(number, len(ops))
        except BaseException:
            _set_status(journal, run.id, "partial")
            raise
        result.status = "done"
        _set_status(journal, run.id, "done")
        result.per_class = dict(Counter(op.class_name for op in _ops(project, run.id) if op.state == "done"))
    return result


def undo_tags(project: Project, run_id: int | None = None) -> TagResult:
    """Put every sidecar of a run back as it was (deleted where the run created it); one changed since is kept."""
    with _locked(project), Journal(project) as journal:
        run = _run(project, run_id, (*UNFINISHED, "done"))
        _set_status(journal, run.id, "undoing")
        result = TagResult(run.id, "undoing", undo=True)
        for op in reversed(_ops(project, run.id)):
            if op.state not in ("started", "done"):
                continue
            try:
                current = _read(op.sidecar)
            except TagError as exc:
                result.failed.append((op.sidecar, str(exc)))
                continue
            if current is not None and safe_files.content_hash(current) == op.after_hash:
                if op.existed and op.before is not None:
                    _write_bytes(op.sidecar, op.before)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(op.sidecar)
                result.written += 1
            elif current != (op.before if op.existed else None):
                result.failed.append((op.sidecar, "another program changed it since, so it was kept"))
                continue
            else:
                result.unchanged += 1
            _set_op(journal, op.id, state="undone")
        result.status = "undone"  # a sidecar kept (changed since) is named; undoing again would not change it
        _set_status(journal, run.id, result.status)
    return result


# --- one sidecar ------------------------------------------------------------------------------------------------

@dataclass
class _Op:
    id: int
    sidecar: Path
    class_name: str
    existed: bool
    before: bytes | None
    after_hash: str | None
    state: str


def _write_one(journal: Journal, hierarchy: str, op: _Op, result: TagResult) -> None:
    try:
        current = _read(op.sidecar)
        if op.state == "started" and current is not None and safe_files.content_hash(current) == op.after_hash:
            _set_op(journal, op.id, state="done")  # written before the crash
            result.written += 1
            return
        if op.state == "started":
            current_before = op.before if op.existed else None
            if current != current_before:
                raise TagError("another program changed it while it was being written")
        new = with_keyword(current, op.class_name, hierarchy)
    except (TagError, XmpError) as exc:
        _set_op(journal, op.id, state="failed", error=str(exc))
        result.failed.append((op.sidecar, str(exc)))
        return
    after = new if new is not None else current
    # Journalled before the write: after a crash the digest tells whether it landed.
    _set_op(journal, op.id, state="started", existed=current is not None, before=current,
            after_hash=safe_files.content_hash(after or b""), error=None)
    op.existed, op.before = current is not None, current
    if new is None:
        result.unchanged += 1
    else:
        try:
            _write_bytes(op.sidecar, new)
        except OSError as exc:
            _set_op(journal, op.id, state="failed", error=exc.strerror or str(exc))
            result.failed.append((op.sidecar, exc.strerror or str(exc)))
            return
        result.written += 1
    _set_op(journal, op.id, state="done")


def _read(path: Path) -> bytes | None:
    """A sidecar's bytes, None when there is none; never through a link, never a pipe or a huge file."""
    info = safe_files.lstat_or_none(path)
    if info is None:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise TagError(f"{path} is a symbolic link, so it was left alone")
    try:
        return read_regular_file(path, MAX_SIDECAR_BYTES)
    except FileReadError as exc:
        raise TagError(exc.reason) from exc


def _write_bytes(path: Path, data: bytes) -> None:
    safe_files.atomic_write(path, lambda file: file.write(data))


# --- the journal ------------------------------------------------------------------------------------------------

def _locked(project: Project):
    return exclusive_lock(project.path / TAG_LOCK_NAME, BUSY)


def _run(project: Project, run_id: int | None, states: tuple[str, ...]) -> TagRun:
    with project.sessions() as session:
        if run_id is None:
            run = session.scalar(select(TagRun).where(TagRun.status.in_(states)).order_by(TagRun.id.desc()))
            if run is None:
                raise TagError("There is no tag run to resume or undo.")
        else:
            run = session.get(TagRun, run_id)
            if run is None:
                raise TagError(f"There is no tag run #{run_id} in this project.")
        session.expunge(run)
        return run


def _ops(project: Project, run_id: int) -> list[_Op]:
    with project.sessions() as session:
        rows = session.execute(select(TagOperation.id, TagOperation.sidecar, TagOperation.class_name,
                                      TagOperation.existed, TagOperation.before, TagOperation.after_hash,
                                      TagOperation.state).where(TagOperation.run_id == run_id)
                               .order_by(TagOperation.id)).all()
    return [_Op(row[0], Path(row[1]), row[2], bool(row[3]), row[4], row[5], row[6]) for row in rows]


def _set_op(journal: Journal, op_id: int, **values) -> None:
    """One operation's new state, on disk (synchronous=FULL, as a sort's journal) before the next file is touched."""
    try:
        with journal.write() as session:
            session.execute(update(TagOperation).where(TagOperation.id == op_id).values(**values))
    except Stop as stop:
        raise TagError(_UNRECORDED) from stop


def _set_status(journal: Journal, run_id: int, status: str) -> None:
    try:
        with journal.write() as session:
            session.execute(update(TagRun).where(TagRun.id == run_id).values(status=status))
    except Stop as stop:
        raise TagError(_UNRECORDED) from stop
