"""Sorting photos into class folders: plan, journal, copy or move, resume after a crash, and undo.

How a photo is kept safe, whatever happens:

- Nothing is ever overwritten. A file gets its final name from a primitive that fails when the name is
  taken: a hard link, or (on drives without hard links) an O_EXCL placeholder that only our own file replaces.
- A source is deleted only once the photo is reachable at its destination: under a second name of the same
  file (a hard link on the same drive), or as an identical, fsynced copy on another drive.
- Every file operation is in the journal before the disk is touched: the whole plan as ``planned`` rows, then
  each operation as ``started`` with its exact destination, in a commit that is on disk (synchronous=FULL).
  After a crash only ``started`` operations can be half done, and the disk says which half: the photo reached
  its destination, or it did not and what is left is a temp file or an empty placeholder of ours.
- Cleanup only ever removes what is provably redundant: our temp files (never the only copy), empty
  placeholders, a second name of a file that still has its first, or a copy verified against a kept original.
- One sort at a time per project, across processes (the GUI and the CLI alike): ``exclusive_sorting`` holds a
  lock file in the project folder, which the operating system frees when its holder dies.
- What is moved is what was planned: before each operation the source must still be the same regular file
  (never a link or a FIFO put in its place) with the planned content, and the destination folders must still be
  real folders (never a link put in their place), or the photo is left where it is with a reason.
- A full or failing project disk stops the run like a full destination: the journal is left as the last commit
  wrote it, which the disk reconciles on resume or undo.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import stat
import tempfile
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from desktop.core.importer import CancelToken, NeverCancel
from desktop.core.project import Project
from desktop.db.models import Folder, Image, ImageClass, Label, Prediction, Sort, SortOperation, TrainedModel
from desktop.errors import PigeonholeError
from desktop.io.locks import exclusive_lock, is_locked

UNSURE = "_unsure"  # the folder for photos below the confidence threshold or without a prediction
COPY, MOVE = "copy", "move"
DEFAULT_THRESHOLD = 0.5
DEFAULT_PRECISION = 0.95  # the dialog's default rule when the model has calibrated thresholds
CHUNK_SIZE = 1 << 20
MAX_RENAMES = 1000  # attempts at finding a free "name (n).jpg" before giving up on one photo

# errno values of os.link that mean "this drive has no hard links" (FAT, exFAT, some network shares).
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EINVAL})
_DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
_READ_ONLY = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
_O_BINARY = getattr(os, "O_BINARY", 0)
# Reading a source never blocks on a FIFO put in a photo's place (O_NONBLOCK changes nothing for regular files),
# nor makes a terminal ours.
_O_READ = os.O_RDONLY | _O_BINARY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
SORT_LOCK_NAME = ".sort.lock"  # in the project folder: held while a sort is started, run, resumed or undone
BUSY_MESSAGE = "Another Pigeonhole is running a sort of this project; let it finish (or close it), then try again."
_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f/\\:*?"<>|]')


class SortError(PigeonholeError):
    """A sort cannot be planned, started, resumed or undone; the message is for the user."""


class OpState(StrEnum):
    PLANNED = "planned"  # journalled; the disk has not been touched for it
    STARTED = "started"  # may be half done: after a crash the disk decides
    DONE = "done"
    FAILED = "failed"  # not sorted, for the reason in ``error``; resuming tries again
    UNDOING = "undoing"  # being put back: after a crash the disk decides
    UNDONE = "undone"


class SortStatus(StrEnum):
    PLANNED = "planned"  # journal written, no file touched yet
    RUNNING = "running"  # files are being sorted, or the app stopped while they were
    PARTIAL = "partial"  # stopped early (cancelled, disk full, ...): resume or undo
    DONE = "done"  # every operation was tried (some may have failed; see the result)
    UNDOING = "undoing"
    UNDONE = "undone"


UNFINISHED = (SortStatus.PLANNED, SortStatus.RUNNING, SortStatus.PARTIAL, SortStatus.UNDOING)


# --- what callers see ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SortRequest:
    destination: Path | str
    mode: str = COPY  # copy | move
    threshold: float = DEFAULT_THRESHOLD  # predictions less confident than this go to _unsure
    follow_labels: bool = True  # labelled photos go to their human label's folder, not the prediction's
    image_ids: Sequence[int] | None = None  # these images; else folder_id's; else every usable image
    folder_id: int | None = None
    model_id: int | None = None  # None: the active model
    # Sort a predicted photo only where the model is expected to be right this share of the time: per-class
    # thresholds from its calibrated held-out predictions (``threshold`` is then unused). None: ``threshold``.
    precision: float | None = None


@dataclass(frozen=True)
class PlannedOperation:
    image_id: int
    source: Path
    destination: Path
    class_name: str
    content_hash: str  # of the source when planned
    size: int
    why: str  # label | prediction | unsure (below the threshold) | unreachable (its class cannot reach the
    # asked precision) | unpredicted (no valid prediction)
    confidence: float | None = None


@dataclass
class SortPlan:
    destination: Path
    mode: str
    threshold: float
    follow_labels: bool
    model_id: int | None
    operations: list[PlannedOperation] = field(default_factory=list)
    per_class: dict[str, int] = field(default_factory=dict)  # photos per class folder, _unsure last
    from_labels: int = 0
    below_threshold: int = 0
    unpredicted: int = 0  # no label and no prediction made on the current content: they go to _unsure
    already_sorted: int = 0  # already in one of the destination's class folders: left alone
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why): broken, missing, gone
    bytes_to_write: int = 0  # what must be copied (moves on the same drive write nothing)
    free_bytes: int | None = None
    warnings: list[str] = field(default_factory=list)
    # The rule used: ``precision`` with a threshold per model class (None: that class cannot reach it, so its
    # photos go to _unsure), or ``threshold`` alone (precision None: asked for, or the model has no thresholds).
    precision: float | None = None
    class_thresholds: dict[str, float | None] = field(default_factory=dict)
    # Sum over photos sorted by prediction of 1 - calibrated confidence: how many of them are expected wrong.
    expected_mistakes: float = 0.0

    @property
    def rule(self) -> dict[str, Any]:
        """What decided prediction-sorted photos, as the journal records it (``Sort.settings["rule"]``)."""
        if self.precision is None:
            return {"threshold": self.threshold}
        return {"precision": self.precision, "thresholds": dict(self.class_thresholds)}

    @property
    def unreachable(self) -> list[str]:
        """Classes whose photos all go to _unsure: no threshold of theirs reaches the asked precision."""
        return [name for name, threshold in self.class_thresholds.items() if threshold is None]

    def as_result(self) -> SortResult:
        """The dry-run answer: what would happen, in the same shape as a real sort's result."""
        return SortResult(
            sort_id=None, mode=self.mode, destination=self.destination, status="dry-run",
            planned=len(self.operations), done=0, failed=[], per_class=dict(self.per_class),
            operations=[(op.source, op.destination) for op in self.operations], remaining=len(self.operations),
            unpredicted=self.unpredicted, skipped=len(self.skipped), dry_run=True, rule=self.rule,
            expected_mistakes=self.expected_mistakes,
        )


@dataclass(frozen=True)
class SortProgress:
    done: int
    total: int
    failed: int
    current: str  # the file being handled
    phase: str = "sort"  # sort | undo


@dataclass(frozen=True)
class SortFailure:
    source: Path
    destination: Path
    reason: str


@dataclass
class SortResult:
    sort_id: int | None  # None for a dry run
    mode: str
    destination: Path
    status: str
    planned: int
    done: int
    failed: list[SortFailure]
    per_class: dict[str, int]  # photos sorted per class (for a dry run: that would be)
    operations: list[tuple[Path, Path]]  # (source, destination) of every photo sorted (dry run: planned)
    remaining: int = 0  # neither done nor failed yet (cancelled or stopped): resume to finish
    unpredicted: int = 0
    skipped: int = 0
    cancelled: bool = False
    stopped: str | None = None  # why the run stopped early, as a sentence
    dry_run: bool = False
    rule: dict[str, Any] = field(default_factory=dict)  # SortPlan.rule; {} for sorts journalled before it
    expected_mistakes: float | None = None  # SortPlan.expected_mistakes of the whole plan

    @property
    def message(self) -> str:
        if self.stopped:
            return self.stopped
        verb = "copied" if self.mode == COPY else "moved"
        if self.dry_run:
            folders = len(self.per_class)
            return (f"{self.planned} photos would be {verb} into {folders} folder{'s' * (folders != 1)} "
                    f"in {self.destination}.")
        if self.cancelled:
            return (f"Sorting was cancelled: {self.done} of {self.planned} photos were {verb} and nothing was lost. "
                    "Resume to finish, or undo.")
        text = f"{self.done} of {self.planned} photos were {verb} into {self.destination}"
        if self.failed:
            text += f"; {len(self.failed)} could not be sorted (see the list)"
        return text + "."

    def as_json(self) -> dict[str, Any]:
        return {
            "sort_id": self.sort_id,
            "dry_run": self.dry_run,
            "status": self.status,
            "mode": self.mode,
            "destination": str(self.destination),
            "planned": self.planned,
            "done": self.done,
            "remaining": self.remaining,
            "per_class": dict(self.per_class),
            "unpredicted": self.unpredicted,
            "skipped": self.skipped,
            "operations": [{"source": str(s), "destination": str(d)} for s, d in self.operations],
            "failed": [{"source": str(f.source), "destination": str(f.destination), "reason": f.reason}
                       for f in self.failed],
            "precision": self.rule.get("precision"),
            "threshold": self.rule.get("threshold"),
            "thresholds": self.rule.get("thresholds"),
            "expected_mistakes": None if self.expected_mistakes is None else round(self.expected_mistakes, 2),
            "message": self.message,
        }


def describe_rule(rule: dict[str, Any]) -> str:
    """The rule of a sort in words, for history and undo: "precision 95%" or "threshold 0.50"."""
    if rule.get("precision") is not None:
        return f"precision {rule['precision']:.0%}"
    if rule.get("threshold") is not None:
        return f"threshold {rule['threshold']:.2f}"
    return ""


@dataclass
class UndoResult:
    sort_id: int
    mode: str
    status: str
    restored: list[tuple[Path, Path]] = field(default_factory=list)  # moves put back: (from, to)
    deleted: list[Path] = field(default_factory=list)  # copies removed
    renamed: list[tuple[Path, Path]] = field(default_factory=list)  # (original place, taken) -> put beside it
    kept: list[tuple[Path, str]] = field(default_factory=list)  # left where it is, and why
    removed_folders: list[Path] = field(default_factory=list)
    cancelled: bool = False
    stopped: str | None = None

    @property
    def message(self) -> str:
        if self.stopped:
            return self.stopped
        if self.mode == MOVE:
            undone = len(self.restored)
            text = f"{undone} photo{'s' * (undone != 1)} put back"
        else:
            undone = len(self.deleted)
            text = f"Removed the {undone} cop{'ies' if undone != 1 else 'y'}; the originals are untouched"
        if self.cancelled:
            text = f"Undo was cancelled: {text}. Undo again to finish"
        if self.renamed:
            text += f"; {len(self.renamed)} put beside their old place because a file now has that name"
        if self.kept:
            text += f"; {len(self.kept)} left where they are (see the list)"
        return text + "."

    def as_json(self) -> dict[str, Any]:
        return {
            "sort_id": self.sort_id,
            "status": self.status,
            "mode": self.mode,
            "restored": [{"from": str(a), "to": str(b)} for a, b in self.restored],
            "deleted": [str(p) for p in self.deleted],
            "renamed": [{"wanted": str(a), "restored_as": str(b)} for a, b in self.renamed],
            "kept": [{"path": str(p), "reason": r} for p, r in self.kept],
            "removed_folders": [str(p) for p in self.removed_folders],
            "message": self.message,
        }


@dataclass(frozen=True)
class SortSummary:
    id: int
    created_at: datetime
    destination: Path
    mode: str
    status: str
    total: int
    done: int
    failed: int
    rule: str = ""  # describe_rule of the sort's rule ("" for sorts journalled before rules were recorded)


# --- planning (reads only) ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    root: str
    rel_path: str
    size: int
    mtime: float
    content_hash: str
    error: str | None
    missing: bool
    label: str | None


def plan_sort(project: Project, request: SortRequest) -> SortPlan:
    """Decide where every selected photo would go. Reads the project and the disk; writes nothing."""
    mode = _checked_mode(request.mode)
    if not 0.0 <= request.threshold <= 1.0:
        raise SortError("The confidence threshold must be between 0 and 1 (for example 0.6).")
    if request.precision is not None and not 0.0 < request.precision < 1.0:
        raise SortError("The precision must be between 0 and 1 (for example 0.95).")
    destination = _checked_destination(project, request.destination)
    with project.sessions() as session:
        model = _chosen_model(session, request.model_id)
        model_classes = list(model.class_names) if model else []
        rows = _selected_images(session, request)
        predictions = _predictions(session, model.id, request.image_ids) if model else {}
        label_classes = list(session.scalars(select(ImageClass.name).order_by(ImageClass.position, ImageClass.id)))
        names = _Names(_indexed_names(session, _Folders.load(session), destination))
        model_file = project.path / model.file if model else None
    plan = SortPlan(destination, mode, request.threshold, request.follow_labels, model.id if model else None)
    if model is None:
        plan.warnings.append("No trained model is active: only labelled photos can go to a class folder; "
                             f"the others go to {UNSURE}.")
    thresholds: list[float | None] | None = None
    if request.precision is not None and model is not None and model_file is not None:
        thresholds = precision_thresholds(model_file, len(model_classes), request.precision)
        if thresholds is None:
            plan.warnings.append(f"Model #{model.id} has no calibrated thresholds (it was trained before they "
                                 f"were kept), so photos are sorted by the confidence threshold "
                                 f"{request.threshold:.2f} instead.")
        else:
            plan.precision = request.precision
            plan.class_thresholds = dict(zip(model_classes, thresholds, strict=True))
    folders = _class_folders(destination, (*model_classes, *label_classes))
    output_folders = {_name_key(name) for name in (*folders.values(), *map(_folder_name, folders))}
    destination_device = _device_of(destination)
    counts: Counter[str] = Counter()
    seen: set[tuple[int, int]] = set()  # (device, inode): the files already planned
    for row in rows:
        source = Path(row.root) / row.rel_path
        if row.error:
            plan.skipped.append((source, f"it cannot be read as an image ({row.error})"))
            continue
        if row.missing:
            plan.skipped.append((source, "it was missing when its folder was last scanned"))
            continue
        if _in_output_folder(source, destination, output_folders):
            plan.already_sorted += 1  # the output of an earlier sort into this destination: never re-sorted
            continue
        try:
            info = os.stat(source)
            if not stat.S_ISREG(info.st_mode):
                plan.skipped.append((source, "it is not a regular file"))
                continue
            if mode == MOVE and os.path.islink(source):
                plan.skipped.append((source, "it is a symbolic link; sort it with “copy” instead"))
                continue
            # Nested project folders, or a folder added again through a link, list one file twice. Told by
            # identity, not by name: IMG_1.jpg and img_1.JPG are two photos on a case-sensitive drive.
            if (info.st_dev, info.st_ino) in seen:
                plan.skipped.append((source, "it is the same file as another selected image"))
                continue
            seen.add((info.st_dev, info.st_ino))
            # Size and time unchanged since the import: the stored hash is current, no need to read the file.
            unchanged = info.st_size == row.size and info.st_mtime == row.mtime
            digest = row.content_hash if unchanged else _hash_file(source)
        except FileNotFoundError:
            plan.skipped.append((source, "the file no longer exists"))
            continue
        except OSError as exc:
            plan.skipped.append((source, f"cannot read it: {_why(exc)}"))
            continue
        class_name, why, confidence = _decide(row, digest, model_classes, predictions.get(row.id), request,
                                              thresholds)
        if why == "label":
            plan.from_labels += 1
        elif why == "prediction" and confidence is not None:
            plan.expected_mistakes += 1.0 - confidence
        elif why in ("unsure", "unreachable"):
            plan.below_threshold += 1
        elif why == "unpredicted":
            plan.unpredicted += 1
        target = names.allocate(destination / folders.get(class_name, _folder_name(class_name)), source.name)
        plan.operations.append(PlannedOperation(row.id, source, target, class_name, digest, info.st_size, why,
                                                confidence))
        counts[class_name] += 1
        if mode == COPY or info.st_dev != destination_device:
            plan.bytes_to_write += info.st_size
    order = {name: index for index, name in enumerate((*model_classes, *label_classes))}
    plan.per_class = dict(sorted(counts.items(), key=lambda item: (item[0] == UNSURE, order.get(item[0], len(order)),
                                                                   item[0].casefold())))
    plan.free_bytes = _free_space(destination)
    if plan.free_bytes is not None and plan.bytes_to_write > plan.free_bytes:
        plan.warnings.append(f"The photos need {_size(plan.bytes_to_write)} but only {_size(plan.free_bytes)} is "
                             f"free at {destination}: sorting will stop when the disk is full.")
    return plan


def _decide(row: _Row, digest: str, model_classes: list[str], prediction: tuple[str, int, float] | None,
            request: SortRequest, thresholds: list[float | None] | None) -> tuple[str, str, float | None]:
    if request.follow_labels and row.label is not None:
        return row.label, "label", None
    # A prediction counts only if it was made on exactly these bytes.
    if prediction is None or prediction[0] != digest or not 0 <= prediction[1] < len(model_classes):
        return UNSURE, "unpredicted", None
    _hash, index, confidence = prediction
    if thresholds is not None:
        if thresholds[index] is None:
            return UNSURE, "unreachable", confidence
        if confidence < thresholds[index]:
            return UNSURE, "unsure", confidence
    elif confidence < request.threshold:
        return UNSURE, "unsure", confidence
    return model_classes[index], "prediction", confidence


_thresholds_cache: dict[tuple[str, int, int, float], list[float | None] | None] = {}


def precision_thresholds(model_file: Path, class_count: int, precision: float) -> list[float | None] | None:
    """Per class of the model, the lowest calibrated confidence at which its held-out predictions were right at
    least ``precision`` of the time (None: never); None when the model file keeps no such data (an older model,
    or one that cannot be read). A precision the trainer stored is read as stored; any other is computed from
    the calibrated out-of-fold predictions the file keeps, the same way (``calibration.thresholds_for_precision``).
    """
    try:
        info = os.stat(model_file)
    except OSError:
        return None
    key = (str(model_file), info.st_mtime_ns, info.st_size, precision)
    if key not in _thresholds_cache:  # the preview plans again on every option change: read the file once
        if len(_thresholds_cache) > 32:
            _thresholds_cache.clear()
        _thresholds_cache[key] = _read_thresholds(model_file, class_count, precision)
    return _thresholds_cache[key]


def _read_thresholds(model_file: Path, class_count: int, precision: float) -> list[float | None] | None:
    import numpy as np
    import torch

    from desktop.ml.calibration import thresholds_for_precision
    from desktop.ml.checkpoint import load_checkpoint

    try:
        checkpoint = load_checkpoint(model_file)
    except PigeonholeError:
        return None
    stored = checkpoint.get("precision_thresholds")
    if isinstance(stored, dict):
        found = next((value for key, value in stored.items() if _same_precision(key, precision)), None)
        if _valid_thresholds(found, class_count):
            return [None if t is None else float(t) for t in found]
    held_out = checkpoint.get("out_of_fold")
    if not isinstance(held_out, dict):
        return None
    probabilities, labels = held_out.get("probabilities"), held_out.get("labels")
    if not (isinstance(probabilities, torch.Tensor) and isinstance(labels, torch.Tensor)
            and probabilities.ndim == 2 and probabilities.shape[1] == class_count and labels.ndim == 1
            and labels.shape[0] == probabilities.shape[0] and labels.shape[0] > 0):
        return None
    probs = probabilities.detach().to(torch.float64).numpy()
    targets = labels.detach().to(torch.int64).numpy()
    if not np.isfinite(probs).all() or targets.min() < 0 or targets.max() >= class_count:
        return None  # not what a trainer writes: no promise can rest on it
    return thresholds_for_precision(probs, targets, precision)


def _same_precision(key: Any, precision: float) -> bool:
    try:
        return abs(float(key) - precision) < 1e-9
    except (TypeError, ValueError):
        return False


def _valid_thresholds(values: Any, class_count: int) -> bool:
    return isinstance(values, list) and len(values) == class_count and all(
        value is None or (isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0)
        for value in values)


def _checked_mode(mode: str) -> str:
    if mode not in (COPY, MOVE):
        raise SortError(f"Unknown sort mode “{mode}”: use “copy” or “move”.")
    return mode


def _checked_destination(project: Project, raw: Path | str) -> Path:
    if not str(raw).strip():  # Path("") would be the current folder
        raise SortError("The destination is empty: name the folder to sort into.")
    destination = Path(raw).expanduser().resolve()
    if destination == project.path or destination.is_relative_to(project.path):
        raise SortError(f"{destination} is inside the project folder; choose a destination outside it.")
    for path in (destination, *destination.parents):
        if path.exists():
            if not path.is_dir():
                where = "it is a file" if path == destination else f"{path} is a file"
                raise SortError(f"Cannot write to {destination}: {where}, not a folder. Choose another destination.")
            break
    return destination


def _chosen_model(session: Session, model_id: int | None) -> TrainedModel | None:
    if model_id is not None:
        model = session.get(TrainedModel, model_id)
        if model is None:
            raise SortError(f"There is no model #{model_id} in this project.")
        return model
    return session.scalar(select(TrainedModel).where(TrainedModel.is_active.is_(True)).order_by(TrainedModel.id.desc()))


def _selected_images(session: Session, request: SortRequest) -> list[_Row]:
    query = (
        select(Image.id, Folder.root, Image.rel_path, Image.size, Image.mtime, Image.content_hash, Image.error,
               Image.missing, ImageClass.name)
        .join(Folder, Folder.id == Image.folder_id)
        .outerjoin(Label, Label.image_id == Image.id)
        .outerjoin(ImageClass, ImageClass.id == Label.class_id)
        .order_by(Folder.root, Image.rel_path)
    )
    if request.image_ids is None:
        if request.folder_id is not None:
            query = query.where(Image.folder_id == request.folder_id)
        return [_Row(*row) for row in session.execute(query)]
    ids = list(dict.fromkeys(request.image_ids))
    rows: list[_Row] = []
    for start in range(0, len(ids), 900):  # SQLite limits bound parameters per statement
        rows.extend(_Row(*row) for row in session.execute(query.where(Image.id.in_(ids[start : start + 900]))))
    return sorted(rows, key=lambda row: (row.root, row.rel_path))


def _predictions(session: Session, model_id: int,
                 image_ids: Sequence[int] | None) -> dict[int, tuple[str, int, float]]:
    query = select(Prediction.image_id, Prediction.content_hash, Prediction.predicted_index,
                   Prediction.confidence).where(Prediction.model_id == model_id)
    if image_ids is None:
        return {row[0]: (row[1], row[2], row[3]) for row in session.execute(query)}
    ids = list(dict.fromkeys(image_ids))
    found: dict[int, tuple[str, int, float]] = {}
    for start in range(0, len(ids), 900):
        for row in session.execute(query.where(Prediction.image_id.in_(ids[start : start + 900]))):
            found[row[0]] = (row[1], row[2], row[3])
    return found


def _in_output_folder(source: Path, destination: Path, output_folders: set[str]) -> bool:
    if not source.is_relative_to(destination):
        return False
    parts = source.relative_to(destination).parts
    return len(parts) >= 2 and _name_key(parts[0]) in output_folders


def _folder_name(class_name: str) -> str:
    """A folder name safe on every common file system (class names are checked already; models may be older)."""
    name = _UNSAFE_IN_NAMES.sub("_", class_name).strip().rstrip(". ")
    return name if name not in ("", ".", "..") else "_unnamed"


def _class_folders(destination: Path, class_names: Sequence[str]) -> dict[str, str]:
    """One folder name per class, no two alike on any file system: classes "Cat" and "cat" (or "a/b" and "a_b")
    get "Cat" and "cat (2)". A folder already in the destination under another case ("CATS" for "cats") is
    used as it is spelled, so a sort lands in the same folders on every drive; a file or a link with a class
    folder's name is never written through: that class takes the next free name."""
    on_disk: dict[str, tuple[str, bool]] = {}
    with contextlib.suppress(OSError):  # a destination that does not exist yet holds nothing
        for entry in os.scandir(destination):
            on_disk.setdefault(_name_key(entry.name), (entry.name, entry.is_dir(follow_symlinks=False)))
    folders: dict[str, str] = {}
    used: set[str] = set()
    for class_name in dict.fromkeys((UNSURE, *class_names)):  # _unsure first: it is always "_unsure"
        base = candidate = _folder_name(class_name)
        for number in range(2, MAX_RENAMES + 2):
            key = _name_key(candidate)
            there = on_disk.get(key)
            if key not in used and (there is None or there[1]):
                candidate = there[0] if there else candidate
                break
            candidate = f"{base} ({number})"
        used.add(_name_key(candidate))
        folders[class_name] = candidate
    return folders


def _name_key(name: str) -> str:
    # Names that macOS, Windows and FAT drives treat as the same file: case- and composition-insensitive.
    return unicodedata.normalize("NFC", name).casefold()


def _numbered(name: str, number: int) -> str:
    stem, suffix = os.path.splitext(name)
    return f"{stem} ({number}){suffix}"


class _Names:
    """Free file names per folder: never one that exists on disk, in the project, or earlier in the plan."""

    def __init__(self, indexed: dict[str, set[str]]) -> None:
        self._indexed = indexed
        self._taken: dict[str, set[str]] = {}

    def allocate(self, directory: Path, name: str) -> Path:
        key = _name_key(str(directory))
        taken = self._taken.get(key)
        if taken is None:
            taken = set(self._indexed.get(key, ()))
            with contextlib.suppress(OSError):  # a folder that does not exist yet holds nothing
                taken.update(_name_key(entry) for entry in os.listdir(directory))
            self._taken[key] = taken
        candidate, number = name, 1
        while _name_key(candidate) in taken:
            number += 1
            candidate = _numbered(name, number)
        taken.add(_name_key(candidate))
        return directory / candidate


class _Folders:
    """The project's folders, to find which one holds a path (the deepest one, when folders nest)."""

    def __init__(self, rows: Sequence[tuple[int, str]]) -> None:
        self._roots = [(Path(root), folder_id) for folder_id, root in rows]
        self._roots.sort(key=lambda item: len(item[0].parts), reverse=True)

    @classmethod
    def load(cls, session: Session) -> _Folders:
        return cls([(folder_id, root) for folder_id, root in session.execute(select(Folder.id, Folder.root))])

    def add(self, folder_id: int, root: Path) -> None:
        self._roots.append((root, folder_id))
        self._roots.sort(key=lambda item: len(item[0].parts), reverse=True)

    def owner(self, path: Path) -> tuple[int, str] | None:
        return next(iter(self.owners(path)), None)

    def owners(self, path: Path) -> list[tuple[int, str]]:
        """Every folder holding ``path`` (nested project folders), deepest first, with the relative path."""
        return [(folder_id, path.relative_to(root).as_posix()) for root, folder_id in self._roots
                if path != root and path.is_relative_to(root)]

    def root_of(self, path: Path) -> Path | None:
        return next((root for root, _folder_id in self._roots if path != root and path.is_relative_to(root)), None)

    def touching(self, destination: Path) -> list[tuple[int, Path]]:
        return [(folder_id, root) for root, folder_id in self._roots
                if root.is_relative_to(destination) or destination.is_relative_to(root)]


def _indexed_names(session: Session, folders: _Folders, destination: Path) -> dict[str, set[str]]:
    """Names the project already uses below the destination, even for files now missing: a photo moved there
    must not take the path of another image row (and inherit its label when the folder is scanned again)."""
    names: dict[str, set[str]] = {}
    for folder_id, root in folders.touching(destination):
        for rel_path in session.scalars(select(Image.rel_path).where(Image.folder_id == folder_id)):
            path = root / rel_path
            if path.is_relative_to(destination):
                names.setdefault(_name_key(str(path.parent)), set()).add(_name_key(path.name))
    return names


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
        _remove_empty_dirs([Path(path) for path in created])
        raise SortError(stop.not_started()) from stop
    except BaseException:
        _remove_empty_dirs([Path(path) for path in created])
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
        _remove_empty_dirs(missing)
        raise SortError(f"Cannot write to {destination}: {_why(exc)}. Choose another destination.") from exc
    return [str(path) for path in missing]


# --- running and resuming -----------------------------------------------------------------------------------------

def run_sort(project: Project, sort_id: int, on_progress: Callable[[SortProgress], None] | None = None,
             cancel: CancelToken | None = None) -> SortResult:
    """Copy or move every photo of a started sort that is not done yet. Cancelling (checked between photos)
    or a full disk leaves the sort ``partial``: run or resume it again later, or undo it."""
    return _run(project, sort_id, on_progress, cancel)


def resume_sort(project: Project, sort_id: int, on_progress: Callable[[SortProgress], None] | None = None,
                cancel: CancelToken | None = None) -> SortResult:
    """Finish an interrupted sort: operations a crash left half done are settled from what is on the disk,
    then the rest is done. Failed ones are tried again, since their cause (a full disk) may be gone."""
    return _run(project, sort_id, on_progress, cancel)


def sort_photos(project: Project, request: SortRequest, *, dry_run: bool = False,
                on_progress: Callable[[SortProgress], None] | None = None,
                cancel: CancelToken | None = None) -> SortResult:
    """Plan, journal and run in one call (the CLI's `pigeonhole sort`); a dry run only plans."""
    plan = plan_sort(project, request)
    if dry_run:
        return plan.as_result()
    with exclusive_sorting(project):  # no other sort between journalling this one and running it
        return run_sort(project, start_sort(project, plan), on_progress, cancel)


def _run(project: Project, sort_id: int, on_progress: Callable[[SortProgress], None] | None,
         cancel: CancelToken | None) -> SortResult:
    cancel = cancel or NeverCancel()
    report = on_progress or (lambda _progress: None)
    with exclusive_sorting(project):
        sort = _load_sort(project, sort_id)
        if sort.status in (SortStatus.UNDOING, SortStatus.UNDONE):
            raise SortError(f"Sort #{sort_id} was undone (or is being undone); it cannot be resumed.")
        worker = _Worker(project, sort)
        todo = [op for op in worker.ops if op.state in (OpState.PLANNED, OpState.STARTED, OpState.FAILED)]
        stopped: str | None = None
        cancelled = False
        with worker.journal:
            try:
                if todo and not worker.destination.is_dir():
                    stopped = (f"The destination folder {worker.destination} is not available (was its drive "
                               "disconnected?). Reconnect it, then resume.")
                    worker.set_status(SortStatus.PARTIAL)
                    return sort_result(project, sort_id, stopped=stopped)
                worker.set_status(SortStatus.RUNNING)
                for op in todo:
                    if cancel.is_set():
                        cancelled = True
                        break
                    report(worker.progress(op.source))
                    try:
                        worker.sort_one(op)
                    except _Failed as failure:
                        worker.record(op, OpState.FAILED, failure.reason)
                    except OSError as exc:  # the disk misbehaved while checking: the state stays as it is
                        worker.note(op, f"{op.source}: {_why(exc)}.")
                    except _Stop as stop:
                        if stop.op_reason is not None:
                            worker.record(op, OpState.FAILED, stop.op_reason)
                        with contextlib.suppress(_Stop):  # on one disk, the journal may be full too
                            worker.flush()
                        stopped = stop.message(worker.count(OpState.DONE), len(worker.ops))
                        break
                worker.flush()
                report(worker.progress(""))
            except _Stop as stop:  # the journal could not be written: the disk decides on resume
                stopped = stopped or stop.message(worker.count(OpState.DONE), len(worker.ops))
            finally:
                left = any(op.state in (OpState.PLANNED, OpState.STARTED) for op in worker.ops)
                with contextlib.suppress(Exception):  # the journal already says "running": resumable either way
                    worker.flush()
                    worker.set_status(SortStatus.PARTIAL if left or stopped else SortStatus.DONE)
    return sort_result(project, sort_id, cancelled=cancelled, stopped=stopped)


def sort_result(project: Project, sort_id: int, *, cancelled: bool = False, stopped: str | None = None) -> SortResult:
    """Where a sort stands, from its journal: what was sorted where, what failed and why."""
    sort = _load_sort(project, sort_id)
    ops = _load_ops(project, sort_id)
    done = [op for op in ops if op.state == OpState.DONE]
    plan_counts = sort.settings.get("plan", {})
    return SortResult(
        sort_id=sort_id, mode=sort.mode, destination=Path(sort.destination), status=sort.status, planned=len(ops),
        done=len(done),
        failed=[SortFailure(op.source, op.destination, op.error or "unknown") for op in ops
                if op.state == OpState.FAILED],
        per_class=dict(Counter(op.class_name for op in done)),
        operations=[(op.source, op.destination) for op in done],
        remaining=sum(op.state in (OpState.PLANNED, OpState.STARTED) for op in ops),
        unpredicted=plan_counts.get("unpredicted", 0), skipped=plan_counts.get("skipped", 0),
        cancelled=cancelled, stopped=stopped, rule=dict(sort.settings.get("rule") or {}),
        expected_mistakes=plan_counts.get("expected_mistakes"),
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
                        describe_rule(dict((sort.settings or {}).get("rule") or {})))
            for sort in sorts
        ]


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
        worker = _Worker(project, sort)
        result = UndoResult(sort_id, sort.mode, sort.status)
        todo = [op for op in reversed(worker.ops) if op.state in (OpState.STARTED, OpState.DONE, OpState.UNDOING)]
        with worker.journal:
            try:
                worker.set_status(SortStatus.UNDOING)
            except _Stop as stop:
                raise SortError(stop.message(0, len(todo), undo=True)) from stop
            if todo and not worker.destination.is_dir():
                result.stopped = (f"The folder {worker.destination} is not available (was its drive disconnected?). "
                                  "Reconnect it, then undo again.")
                todo = []
            try:
                for op in todo:
                    if cancel.is_set():
                        result.cancelled = True
                        break
                    report(worker.progress(op.destination, undo=True))
                    try:
                        worker.undo_one(op, result)
                    except _Failed as failure:
                        # Nothing half done is left behind a _Failed: the photo is still in the sorted folder.
                        state = {OpState.UNDOING: OpState.DONE, OpState.STARTED: OpState.FAILED}.get(op.state)
                        worker.record(op, state or op.state, failure.reason)
                        result.kept.append((op.destination, failure.reason))
                    except OSError as exc:
                        worker.note(op, _why(exc))
                        result.kept.append((op.destination, f"it could not be checked ({_why(exc)}), so it was left"))
                    except _Stop as stop:
                        result.stopped = stop.message(worker.count(OpState.UNDONE), len(todo), undo=True)
                        break
                worker.flush()
            except _Stop as stop:  # the journal could not be written
                result.stopped = stop.message(worker.count(OpState.UNDONE), len(todo), undo=True)
            finally:
                with contextlib.suppress(Exception):  # the sort stays "undoing": undo it again to finish
                    worker.flush()
            report(worker.progress("", undo=True))
            if not (result.cancelled or result.stopped):
                result.removed_folders = worker.remove_created_folders()
                try:
                    worker.forget_created_folder()
                    worker.set_status(SortStatus.UNDONE)
                except _Stop as stop:  # every photo is back; undoing again finishes the bookkeeping
                    result.stopped = stop.message(worker.count(OpState.UNDONE), len(todo), undo=True)
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


# --- the worker: one sort's journal and file operations ----------------------------------------------------------

@dataclass
class _SortRow:
    id: int
    destination: str
    mode: str
    status: str
    settings: dict[str, Any]


@dataclass
class _Op:
    id: int
    image_id: int | None
    source: Path
    destination: Path
    class_name: str
    content_hash: str
    size: int
    state: str
    error: str | None


class _Failed(Exception):
    """This photo cannot be sorted (or put back); the others can. ``reason`` is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Stop(Exception):
    """The destination cannot take more files (disk full, read-only, swapped for a link), or the project's
    journal cannot be written: stop, report, let the user resume."""

    def __init__(self, kind: str, where: Path, op_reason: str | None, detail: str = "") -> None:
        super().__init__(kind)
        self.kind, self.where, self.op_reason, self.detail = kind, where, op_reason, detail

    def message(self, done: int, total: int, *, undo: bool = False) -> str:
        did = "put back" if undo else "sorted"
        again = "undo again" if undo else "resume"
        if self.kind == "project full":
            return (f"The disk holding the project is full: {done} of {total} photos were {did} and nothing was "
                    f"lost. Free some space there, then {again}.")
        if self.kind == "project busy":
            return (f"The project's database is busy with another program: {done} of {total} photos were {did} "
                    f"and nothing was lost. When it has finished, {again}.")
        if self.kind == "project":
            return (f"The project's database cannot be written ({self.detail}): {done} of {total} photos were "
                    f"{did} and nothing was lost. Check the disk holding {self.where}, then {again}.")
        if self.kind == "link":
            return (f"The folder {self.where} was replaced by a link to another place: {done} of {total} photos "
                    f"were {did} and nothing was lost. Put the folder back, then {again}.")
        if self.kind == "full":
            return (f"The {'disk' if undo else 'destination disk'} is full: {done} of {total} photos were {did} "
                    f"and nothing was lost. Free some space, then {again}.")
        if self.kind == "stuck":
            return (f"A photo moved into {self.where} could not be finished cleanly: {done} of {total} photos were "
                    f"{did} and nothing was lost. Check the folder's permissions, then {again}.")
        if self.kind == "unavailable":
            return (f"The folder {self.where} is not available any more (was its drive disconnected?): {done} of "
                    f"{total} photos were {did} and nothing was lost. Reconnect it, then {again}.")
        return (f"Cannot write to {self.where}: {self.kind}. {done} of {total} photos were {did} and nothing was "
                f"lost. Make the folder writable, then {again}.")

    def not_started(self) -> str:
        """For a journal that could not take the plan: nothing was touched."""
        if self.kind == "project full":
            return ("The disk holding the project is full, so the sort was not started and no photo was touched. "
                    "Free some space there, then sort again.")
        if self.kind == "project busy":
            return ("The project's database is busy with another program, so the sort was not started and no "
                    "photo was touched. When it has finished, sort again.")
        return (f"The project's database cannot be written ({self.detail}), so the sort was not started and no "
                f"photo was touched. Check the disk holding {self.where}, then sort again.")


class _Journal:
    """One connection with synchronous=FULL: each commit is on disk before the next file is touched."""

    def __init__(self, project: Project) -> None:
        self._project_path = project.path
        self._connection: Connection = project.engine.connect()
        self._connection.exec_driver_sql("PRAGMA synchronous=FULL")
        self._connection.commit()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction. If SQLite cannot write it (a full or failing disk), it is rolled back and the run
        stops with :class:`_Stop`: what the journal said before is still true, and the disk settles the rest."""
        try:
            with Session(bind=self._connection, expire_on_commit=False) as session, session.begin():
                yield session
        except DBAPIError as exc:
            driver = exc.orig
            if not isinstance(driver, sqlite3.Error):
                raise
            code = getattr(driver, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
            kind = {sqlite3.SQLITE_FULL: "project full", sqlite3.SQLITE_BUSY: "project busy",
                    sqlite3.SQLITE_LOCKED: "project busy"}.get(code, "project")
            raise _Stop(kind, self._project_path, None, str(driver).rstrip(".")) from exc

    def __enter__(self) -> _Journal:
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


def _load_sort(project: Project, sort_id: int) -> _SortRow:
    with project.sessions() as session:
        sort = session.get(Sort, sort_id)
        if sort is None:
            raise SortError(f"There is no sort #{sort_id} in this project.")
        return _SortRow(sort.id, sort.destination, sort.mode, sort.status, dict(sort.settings or {}))


def _load_ops(project: Project, sort_id: int) -> list[_Op]:
    with project.sessions() as session:
        rows = session.execute(
            select(SortOperation.id, SortOperation.image_id, SortOperation.source, SortOperation.destination,
                   SortOperation.class_name, SortOperation.content_hash, SortOperation.size, SortOperation.state,
                   SortOperation.error)
            .where(SortOperation.sort_id == sort_id).order_by(SortOperation.id)
        ).all()
    return [_Op(r[0], r[1], Path(r[2]), Path(r[3]), r[4], r[5], r[6], r[7], r[8]) for r in rows]


_DONE, _TODO, _CLASH = "done", "todo", "clash"


class _Worker:
    def __init__(self, project: Project, sort: _SortRow) -> None:
        self.project = project
        self.sort = sort
        self.destination = Path(sort.destination)
        self.ops = _load_ops(project, sort.id)
        self.journal = _Journal(project)
        self.settings = dict(sort.settings)
        self._pending: list[tuple[_Op, str, str | None, tuple[Path, Path] | None]] = []
        # Every place of this sort, so a renamed photo never takes a name another operation holds or returns to.
        self._claimed = {_name_key(str(path)) for op in self.ops for path in (op.source, op.destination)}
        self._folders: _Folders | None = None
        self._listed: dict[str, set[str]] = {}  # name keys per destination folder, listed once per run

    # journal -------------------------------------------------------------------------------------------------------

    def record(self, op: _Op, state: str, error: str | None = None,
               repoint: tuple[Path, Path] | None = None) -> None:
        """Remember an outcome; it is committed with the next ``started`` (one commit per photo), or by flush().
        Until then a crash leaves the operation ``started``, which the disk resolves."""
        op.state, op.error = state, error
        self._pending.append((op, state, error, repoint))

    def note(self, op: _Op, error: str) -> None:
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
        except _Stop:
            self.settings, self._folders = settings, None  # what the rolled-back transaction had added
            raise
        self._pending.clear()

    def begin(self, op: _Op, state: str, destination: Path | None = None, restore_as: Path | None = None) -> None:
        """Durably mark ``op`` as being worked on, with where its file goes, before the file is touched."""
        with self._write() as session:
            self._apply(session)
            values: dict[str, Any] = {"state": state, "error": None}
            if destination is not None:
                values["destination"] = str(destination)
            session.execute(update(SortOperation).where(SortOperation.id == op.id).values(**values))
            if restore_as is not None:  # put back beside its old place, which is taken
                restored_to = {**self.settings.get("restored_to", {}), str(op.id): str(restore_as)}
                self.settings = {**self.settings, "restored_to": restored_to}
                session.execute(update(Sort).where(Sort.id == self.sort.id).values(settings=self.settings))
        if destination is not None and destination != op.destination:
            self._claimed.add(_name_key(str(destination)))
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
        if folder is None or Path(folder.root) / image.rel_path != old:
            return  # the project no longer points at the old place: leave the row as the user made it
        if self._folders is None:
            self._folders = _Folders.load(session)
        owners = self._folders.owners(new)
        if not owners and new.is_relative_to(self.destination):
            created = Folder(root=str(self.destination), labels_from_subfolders=False)
            session.add(created)
            session.flush()
            self._folders.add(created.id, self.destination)
            self.settings = {**self.settings, "created_folder_id": created.id}
            session.execute(update(Sort).where(Sort.id == self.sort.id).values(settings=self.settings))
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

    def _indexed(self, path: Path, op: _Op) -> bool:
        """Whether another image row of the project has this path (the operation's own photo does not count)."""
        with self.journal.write() as session:
            if self._folders is None:
                self._folders = _Folders.load(session)
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
            candidate = wanted.parent / _numbered(op.source.name, number)
            if _name_key(str(candidate)) in self._claimed or self._name_taken(candidate) \
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
        folder, name = _name_key(str(path.parent)), _name_key(path.name)
        if folder in self._listed and name not in self._listed[folder]:
            return False
        try:  # listed for the first time, or listed with this name (which may be gone: a crash's placeholder)
            self._listed[folder] = {_name_key(entry) for entry in os.listdir(path.parent)}
        except OSError:
            self._listed[folder] = set()
        return name in self._listed[folder]

    # sorting one photo ---------------------------------------------------------------------------------------------

    def sort_one(self, op: _Op) -> None:
        clash = False
        if op.state == OpState.STARTED:  # interrupted: the disk says how far it got
            outcome = self._settle_forward(op)
            if outcome == _DONE:
                self.record(op, OpState.DONE, repoint=self._repoint_for(op))
                return
            clash = outcome == _CLASH
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
        info = _lstat(folder)
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

    def _settle_forward(self, op: _Op) -> str:
        temp = self.temp_for(op, op.destination.parent)
        if self.sort.mode == COPY:
            return _settle_copy(op.destination, op.size, op.content_hash, temp)
        return _settle_move(op.source, op.destination, op.size, op.content_hash, temp)

    def _copy(self, op: _Op, source: Path, target: Path, *, verify: bool) -> None:
        """Copy into a temp file beside ``target``, fsync, check, then publish it without overwriting."""
        temp = self.temp_for(op, target.parent)
        _remove_leftover(temp)
        try:
            try:
                size, digest = _copy_file(source, temp)
            except _SourceError as exc:
                raise _Failed(f"Cannot read {source}: {_why(exc.error)}.") from exc.error
            except OSError as exc:
                raise _destination_error(exc, target.parent) from exc
            if verify and (size, digest) != (op.size, op.content_hash):
                raise _Failed(f"{source} changed after the sort was planned; plan the sort again to include it.")
            _keep_times(source, temp)
            try:
                _publish(temp, target)
            except FileExistsError:
                raise
            except OSError as exc:
                raise _destination_error(exc, target.parent) from exc
        finally:
            _remove_leftover(temp)  # after publishing it is gone already (or a second name of the target)
        if os.stat(target).st_size != size:
            raise _Failed(f"{target} was written but does not have the size of {source}; it was left there for "
                          "you to check.")

    def _move(self, op: _Op, source: Path, target: Path, info: os.stat_result, *, verify: bool) -> None:
        if info.st_dev == os.stat(target.parent).st_dev:
            if verify:  # a photo edited since planning (even to the same size) is not moved on a stale plan
                try:
                    unchanged = _hash_file(source) == op.content_hash
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
            except _CrossDevice:
                pass  # another mount of the same drive: copy instead
            except OSError as exc:
                if exc.errno in _DISK_FULL or exc.errno == errno.EROFS:  # no later photo would fare better
                    raise _destination_error(exc, target.parent) from exc
                # Permission problems may be the source folder's, so only this photo fails.
                raise _Failed(f"Cannot move {source} to {target.parent}: {_why(exc)}.") from exc
        # Another drive: copy, verify, make the copy durable, and only then delete the original.
        self._copy(op, source, target, verify=verify)
        _fsync_dir(target.parent)
        _drop_original(source, target)

    # putting one photo back ----------------------------------------------------------------------------------------

    def undo_one(self, op: _Op, result: UndoResult) -> None:
        self._refuse_links(op.destination.parent)
        if op.state == OpState.STARTED:
            if self._settle_forward(op) != _DONE:
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
        if info.st_size != op.size or _hash_file(copy) != op.content_hash:
            raise _Failed("it changed after the sort, so it was kept")
        # Deleting a copy must never delete the last copy of a photo.
        original = _lstat(op.source, follow=True)
        if original is None or os.path.samestat(original, info) or original.st_size != op.size \
                or _hash_file(op.source) != op.content_hash:
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
            if outcome == _DONE:
                self._restored(op, home, result)
                return
            clash = outcome == _CLASH
        info = _lstat(op.destination)
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
                _remove_leftover(leftover)
        return _remove_empty_dirs([*class_folders, *(Path(p) for p in self.settings.get("created_dirs", []))])

    def forget_created_folder(self) -> None:
        """Drop the project folder this sort added for its destination, if no image is in it any more."""
        folder_id = self.settings.get("created_folder_id")
        if folder_id is None:
            return
        with self.journal.write() as session:
            if not session.scalar(select(func.count()).select_from(Image).where(Image.folder_id == folder_id)):
                folder = session.get(Folder, folder_id)
                if folder is not None:
                    session.delete(folder)


# --- file primitives ------------------------------------------------------------------------------------------------

class _SourceError(Exception):
    """Reading the source failed (as opposed to writing the destination)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _CrossDevice(Exception):
    """The source and the target are on different mounts: the move must copy."""


def _open_regular(path: Path) -> int:
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


def _hash_file(path: Path) -> str:
    """The same digest as ``desktop.io.images.content_hash``, computed in chunks."""
    digest = hashlib.blake2b(digest_size=16)
    with os.fdopen(_open_regular(path), "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_file(source: Path, target: Path) -> tuple[int, str]:
    """Copy ``source`` into the new file ``target`` and fsync it; returns (bytes, content hash).

    Read errors come as _SourceError, so a bad source is told apart from a full or read-only destination.
    """
    digest = hashlib.blake2b(digest_size=16)
    size = 0
    try:
        reader = _open_regular(source)
    except OSError as exc:
        raise _SourceError(exc) from exc
    try:
        writer = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        try:
            while True:
                try:
                    chunk = os.read(reader, CHUNK_SIZE)
                except OSError as exc:
                    raise _SourceError(exc) from exc
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


def _keep_times(source: Path, target: Path) -> None:
    # The project compares size and time to tell unchanged files; photo tools show the time too.
    with contextlib.suppress(OSError):
        info = os.stat(source)
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


def _hard_link(source: Path, target: Path) -> None:
    """Raises FileExistsError when ``target`` exists: the no-overwrite primitive everything relies on.
    A symlink swapped in for ``source`` after the last check gets a second name itself: the file it points to
    is never linked into the destination."""
    if os.link in os.supports_follow_symlinks:
        os.link(source, target, follow_symlinks=False)
    else:
        os.link(source, target)


def _publish(temp: Path, target: Path) -> None:
    """Give a finished temp file its final name; raises FileExistsError rather than replace anything."""
    try:
        _hard_link(temp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        _rename_no_replace(temp, target)
        return
    with contextlib.suppress(OSError):  # the photo is published; a stray temp name is cleaned up later
        os.unlink(temp)


def _move_on_drive(source: Path, target: Path) -> None:
    """Move within one drive: link under the new name, then drop the old one. Never overwrites."""
    try:
        _hard_link(source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise _CrossDevice from exc
        if exc.errno not in _NO_HARD_LINKS:
            raise
        _rename_no_replace(source, target)
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


def _rename_no_replace(source: Path, target: Path) -> None:
    """For drives without hard links: claim ``target`` with an empty placeholder (O_EXCL fails if the name is
    taken), then rename over that placeholder, which is the only file this can ever replace."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
    os.close(fd)
    try:
        os.replace(source, target)
    except OSError as exc:
        if os.path.lexists(source):
            _remove_placeholder(target)
        if exc.errno == errno.EXDEV:
            raise _CrossDevice from exc
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


def _settle_move(origin: Path, target: Path, size: int, digest: str, temp: Path) -> str:
    """After a crash, finish a move that reached ``target``, or leave the photo at ``origin`` and clear our
    leftovers. Returns _DONE, _TODO, or _CLASH (another file has the name). Never removes the only copy."""
    at_origin, at_target = _lstat(origin), _lstat(target)
    if at_origin is None and at_target is None:
        # Never left by us (the original goes last), but a complete temp copy is rescued rather than removed.
        if _lstat(temp) is not None and os.path.getsize(temp) == size and _hash_file(temp) == digest:
            _publish(temp, target)
            return _DONE
        raise _Failed(f"{origin} is no longer there, and not at {target} either: it was moved or deleted "
                      "outside Pigeonhole.")
    _remove_leftover(temp)
    if at_origin is None:
        if at_target.st_size == 0 and size > 0:
            raise _Failed(f"{origin} is no longer there, and {target} is empty: it was moved or deleted outside "
                          "Pigeonhole.")
        return _DONE
    if at_target is None:
        return _TODO
    if os.path.samestat(at_origin, at_target):  # linked, not yet unlinked
        return _finish_move(origin, target)
    if at_target.st_size == 0 and at_origin.st_size > 0:  # our placeholder (drives without hard links)
        _remove_placeholder(target)
        return _TODO
    if at_target.st_size == at_origin.st_size and _hash_file(target) == _hash_file(origin):
        _fsync_dir(target.parent)  # copied across drives, not yet deleted at the origin
        return _finish_move(origin, target)
    return _CLASH


def _finish_move(origin: Path, target: Path) -> str:
    try:
        os.unlink(origin)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(target)  # identical to the origin, which stays: start over
        return _TODO
    return _DONE


def _settle_copy(target: Path, size: int, digest: str, temp: Path) -> str:
    """After a crash: was the copy published? The source is untouched in copy mode."""
    _remove_leftover(temp)
    at_target = _lstat(target)
    if at_target is None:
        return _TODO
    if at_target.st_size == size and _hash_file(target) == digest:
        return _DONE
    if at_target.st_size == 0 and size > 0:
        _remove_placeholder(target)
        return _TODO
    return _CLASH


def _lstat(path: Path, *, follow: bool = False) -> os.stat_result | None:
    try:
        return os.stat(path, follow_symlinks=follow)
    except FileNotFoundError:
        return None


def _remove_leftover(temp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)


def _remove_placeholder(path: Path) -> None:
    # Only ever an empty file: an empty file holds no photo.
    with contextlib.suppress(OSError):
        if os.lstat(path).st_size == 0:
            os.unlink(path)


def _remove_empty_dirs(paths: Sequence[Path]) -> list[Path]:
    removed = []
    for path in paths:
        try:
            os.rmdir(path)  # fails unless empty: a folder with anything in it is never removed
        except OSError:
            continue
        removed.append(path)
    return removed


def _fsync_dir(directory: Path) -> None:
    """Make a new name in ``directory`` durable (POSIX; Windows cannot open folders and journals them)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _destination_error(exc: OSError, where: Path) -> Exception:
    if exc.errno in _DISK_FULL:
        return _Stop("full", where, "The destination disk is full.")
    if exc.errno in _READ_ONLY:
        return _Stop(_why(exc), where, f"Cannot write to {where}: {_why(exc)}.")
    if exc.errno in (errno.ENOENT, errno.ENODEV, errno.EIO):
        return _Stop("unavailable", where, f"{where} is not available.")
    return _Failed(f"Cannot write to {where}: {_why(exc)}.")


def _why(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the drive is read-only"
    if exc.errno in _DISK_FULL:
        return "the disk is full"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "part of that path is a file, not a folder"
    return (exc.strerror or str(exc)).rstrip(".").lower() if exc.strerror else str(exc)


def _device_of(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        with contextlib.suppress(OSError):
            return os.stat(candidate).st_dev
    return None


def _free_space(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(candidate).free
    return None


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
