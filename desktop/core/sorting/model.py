"""What callers of the sort see: requests, plans, results, states, and the constants they share."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from desktop.errors import PigeonholeError

UNSURE = "_unsure"  # the folder for photos below the confidence threshold or without a prediction
COPY, MOVE = "copy", "move"
DEFAULT_THRESHOLD = 0.5
DEFAULT_PRECISION = 0.95  # the default rule of the dialog and the CLI (models without held-out data: the threshold)
MAX_RENAMES = 1000  # attempts at finding a free "name (n).jpg" before giving up on one photo
SORT_LOCK_NAME = ".sort.lock"  # in the project folder: held while a sort is started, run, resumed or undone
BUSY_MESSAGE = "Another Pigeonhole is running a sort of this project; let it finish (or close it), then try again."
DRY_RUN = "dry-run"  # SortResult.status of a plan that was not run
SET_ASIDE_RULE = "duplicates moved aside"  # how history and undo name a sort of duplicates (``sorting.aside``)

DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


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

    def __post_init__(self) -> None:
        """A request is checked once, where it is made (the dialog, the CLI, a test): the plan trusts it."""
        if self.mode not in (COPY, MOVE):
            raise SortError(f"Unknown sort mode “{self.mode}”: use “copy” or “move”.")
        for problem in (fraction_problem("threshold", self.threshold, "The confidence threshold"),
                        fraction_problem("precision", self.precision, "The precision")):
            if problem is not None:
                raise SortError(problem)


# The rule for a request's numbers, said once: (may it be 0 or 1 itself, an example), per field.
_FRACTIONS = {"threshold": (True, 0.6), "precision": (False, 0.95)}


def fraction_problem(field: str, value: float | None, name: str) -> str | None:
    """The sentence saying ``value`` cannot be a request's ``field`` (``name``: how the user calls it, "--precision"
    on the command line), or None when it can. None is always fine: the field is not asked for."""
    ends_allowed, example = _FRACTIONS[field]
    if value is None or (0.0 <= value <= 1.0 if ends_allowed else 0.0 < value < 1.0):
        return None
    return f"{name} must be between 0 and 1 (for example {example})."


@dataclass(frozen=True)
class PlannedOperation:
    image_id: int
    source: Path
    destination: Path
    class_name: str
    content_hash: str  # of the source when planned
    size: int
    why: str  # label | prediction | unsure (below the threshold) | unreachable (its class cannot reach the
    # asked precision) | unpredicted (no valid prediction) | companion (travels with its photo)
    confidence: float | None = None
    # A companion file (sidecar, RAW/JPEG twin): the index in ``SortPlan.operations`` of the photo it follows.
    companion_of: int | None = None


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
    companions: int = 0  # sidecars and RAW/JPEG twins that travel with their photos (operations of their own)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why): broken, missing, gone
    bytes_to_write: int = 0  # what must be copied (moves on the same drive write nothing)
    free_bytes: int | None = None
    warnings: list[str] = field(default_factory=list)
    # The rule used: ``precision`` with a threshold per model class (None: that class cannot reach it, so its
    # photos go to _unsure), or ``threshold`` alone (precision None: asked for, or the model has no thresholds).
    precision: float | None = None
    class_thresholds: dict[str, float | None] = field(default_factory=dict)
    # How many photos sorted by prediction are expected in a wrong folder (desktop.ml.precision.expected_mistakes),
    # with a 90 % range; and, sorting by precision, what would let more photos be sorted (one sentence per class).
    expected_mistakes: float = 0.0
    mistakes_range: tuple[int, int] = (0, 0)
    advice: dict[str, str] = field(default_factory=dict)  # class name -> why its photos stayed unsure, what helps
    # Duplicates moved aside, not a sort by class (``sorting.aside``); ``keeper``: the rule that chose who stays.
    set_aside: bool = False
    keeper: str | None = None

    @property
    def rule(self) -> dict[str, Any]:
        """What decided prediction-sorted photos, as the journal records it (``Sort.settings["rule"]``)."""
        if self.set_aside:
            return {"set_aside": True, "keeper": self.keeper}
        if self.precision is None:
            return {"threshold": self.threshold}
        return {"precision": self.precision, "thresholds": dict(self.class_thresholds)}

    @property
    def photos(self) -> list[PlannedOperation]:
        """The photos' own operations, without their companions."""
        return [op for op in self.operations if op.companion_of is None]

    @property
    def unreachable(self) -> list[str]:
        """Classes whose photos all go to _unsure: no threshold of theirs reaches the asked precision."""
        return [name for name, threshold in self.class_thresholds.items() if threshold is None]

    def as_result(self) -> SortResult:
        """The dry-run answer: what would happen, in the same shape as a real sort's result."""
        return SortResult(
            sort_id=None, mode=self.mode, destination=self.destination, status=DRY_RUN,
            planned=len(self.photos), done=0, failed=[], per_class=dict(self.per_class),
            operations=[(op.source, op.destination) for op in self.operations], remaining=len(self.photos),
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
    if rule.get("set_aside"):
        return SET_ASIDE_RULE
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
    companions: list[Path] = field(default_factory=list)  # sidecars and twins put back (or copies removed)
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
            "companions": [str(p) for p in self.companions],
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


def os_error_reason(exc: OSError) -> str:
    """An OSError in words for the user: "permission denied", "the disk is full", ..."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the drive is read-only"
    if exc.errno in DISK_FULL:
        return "the disk is full"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "part of that path is a file, not a folder"
    return (exc.strerror or str(exc)).rstrip(".").lower() if exc.strerror else str(exc)
