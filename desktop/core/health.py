"""Check Photos: a health scan of the collection that flags, and never excludes, photos worth a look.

Public API (Qt-free; the GUI runs ``check_photos`` in a worker):

- ``check_photos(project, on_progress=None, cancel=None, index=None) -> HealthReport``: ``report.findings`` is a
  list of ``Finding`` (``kind``, ``title``, ``summary``, ``photos``: ``FlaggedPhoto`` with a one-line
  ``reason`` each). Duplicates come one finding per group with a suggested ``keeper_id`` and the
  ``keeper_rule`` that chose it; every other kind is one finding holding all its photos.
  ``report.count(kind)`` and ``report.of_kind(kind)`` feed the sidebar. Each scan is kept in the project
  (``desktop.core.health_store``): ``last_check(project)`` gives it back when the project opens, with
  ``report.stale`` saying when photos were added, removed or changed since.
- ``dismiss(project, kind, keys)`` / ``undismiss(...)``: "not a problem", stored for good in the project
  (table ``dismissed_findings``) per (kind, photo content hash), so the photo stays dismissed after a move or a
  re-import; ``Finding.keys`` are the keys to pass (class imbalance: one key per class).
- ``keep_one(project, image_ids, keeper_id) -> RemovedPhotos`` removes the other photos of a duplicate group
  FROM THE PROJECT (their rows, labels and predictions; the files stay on disk); ``undo(project, removed)``
  puts them back as they were. A later import of the same folder would add them again.

Kinds (``KINDS``): exact and near duplicates (desktop.core.duplicates), duplicates straddling the
train/validation split, the per-photo rules of ``desktop.core.health_rules`` (blurry, too dark, too bright, low
information, odd size: tuned so a clean set raises few flags), outliers (far in feature space from every class,
or from the collection when there are no classes; robust median + MAD threshold), and class imbalance. Every
rule can misfire on a picture that is meant to look that way: hence flags only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from desktop.core import health_store
from desktop.core.health_rules import (
    MIN_FOR_STATISTICS,
    STATS_SIDE,
    PhotoStats,
    Sized,
    per_photo_flags,
    photo_stats,
    robust_z,
    summary,
)
from desktop.core.project import Project
from desktop.db.engine import transaction
from desktop.db.models import (
    DismissedFinding,
    Folder,
    Image,
    ImageClass,
    Label,
    Prediction,
    SortOperation,
    TrainedModel,
)
from desktop.db.queries import IMAGE_PATH, in_chunks, with_folder
from desktop.errors import PigeonholeError
from desktop.progress import CancelToken, Progress, ProgressCallback, RateTimer, check_cancel, emit
from desktop.wording import plural

KINDS = {
    "exact_duplicates": "Exact duplicates",
    "near_duplicates": "Near duplicates",
    "split_leak": "Train/val duplicates",
    "blurry": "Blurry",
    "dark": "Too dark",
    "bright": "Too bright",
    "low_information": "Low information",
    "odd_size": "Odd size",
    "outlier": "Outliers",
    "class_imbalance": "Class imbalance",
}
# What each kind means and what to do about it: the one sentence over the grid while its photos are shown.
EXPLANATIONS = {
    "exact_duplicates": "Copies of the same file, the suggested keeper first in each group. Keep one moves the "
                        "others aside into _duplicates (Sort ▸ Undo Last Sort puts them back).",
    "near_duplicates": "Photos of nearly the same picture, the suggested keeper first in each group: keep one, or "
                       "select the ones that are fine.",
    "split_leak": "Near-copies across fine-tuning's train/validation split flatter its validation accuracy "
                  "(frozen training keeps them in one fold).",
    "blurry": "Soft edges compared with the rest of the collection — or intentionally soft: have a look.",
    "dark": "Photos with no bright parts at all: underexposed, or a lens cap.",
    "bright": "Photos with no dark parts at all: washed out, overexposed, or a blank page.",
    "low_information": "Nearly uniform pictures: little for the model to learn from.",
    "odd_size": "Tiny photos or very long strips: thumbnails, banners, or a crop gone wrong.",
    "outlier": "Photos far from every class in the model's features: mislabelled, or something new.",
    "class_imbalance": "Some classes have far fewer photos than the largest: the model will lean to the big ones.",
}
PHASE_CHECKING = "checking photos"

OUTLIER_Z = 4.0  # robust z-score of the distance to the nearest class centre
MIN_CLASS_PHOTOS = 3
IMBALANCE_RATIO = 5.0  # the largest class this many times the smallest
SHARPER_BY = 1.10  # a keeper "sharpest" only when 10 % sharper than the runner-up


class HealthError(PigeonholeError):
    """A health-scan action was refused; the message is for the user."""


@dataclass(frozen=True)
class FlaggedPhoto:
    image_id: int
    path: Path
    content_hash: str
    reason: str  # one line


@dataclass(frozen=True)
class Finding:
    kind: str  # a key of KINDS
    summary: str  # one line for the whole finding
    photos: list[FlaggedPhoto]
    keeper_id: int | None = None  # duplicate groups: the photo to keep
    keeper_rule: str | None = None  # "largest", "sharpest" or "oldest": the rule that chose the keeper
    keys: list[str] = field(default_factory=list)  # what "not a problem" stores (content hashes, or a class key)

    @property
    def title(self) -> str:
        return KINDS[self.kind]


@dataclass
class HealthReport:
    findings: list[Finding]
    photos_checked: int
    dismissed: int  # flags not shown because the user said "not a problem"
    notes: list[str] = field(default_factory=list)  # checks skipped and why, photos that could not be read
    checked_at: datetime | None = None  # a stored scan (``last_check``): when it ran (UTC)
    stale: str = ""  # a stored scan: why its findings may be out of date ("" when the photos did not change)

    def of_kind(self, kind: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.kind == kind]

    def count(self, kind: str) -> int:
        """Photos flagged with ``kind`` (classes, for class imbalance)."""
        return sum(len(f.photos) or len(f.keys) for f in self.of_kind(kind))


@dataclass(frozen=True)
class _Photo:
    image_id: int
    path: Path
    content_hash: str
    width: int
    height: int
    mtime: float
    split: str | None
    class_name: str | None


def check_photos(project: Project, on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                 index=None) -> HealthReport:
    """Scan every readable photo; ``index`` (a desktop.core.similarity.SimilarityIndex) saves recomputing
    the features when the caller has one."""
    from desktop.core.duplicates import find_duplicates
    from desktop.core.similarity import build_index

    photos = _photos(project)
    dismissed = dismissed_keys(project)
    notes: list[str] = []
    stats = _pixel_stats(photos, notes, on_progress, cancel)
    if index is None:
        index = build_index(project, on_progress=on_progress, cancel=cancel)
    check_cancel(cancel)
    by_id = {photo.image_id: photo for photo in photos}
    findings: list[Finding] = []
    for group in find_duplicates(project, cancel=cancel, index=index):
        findings.extend(_duplicate_findings([by_id[i] for i in group.image_ids if i in by_id], group, stats))
    findings.extend(_pixel_findings(photos, stats, notes))
    findings.extend(_outliers(photos, index, notes))
    findings.extend(_imbalance(photos))

    health_store.save(project, [(p.image_id, p.content_hash) for p in photos], [_stored(f) for f in findings], notes)
    return _report(findings, len(photos), dismissed, notes)


def _report(findings: list[Finding], photos_checked: int, dismissed: set[tuple[str, str]], notes: list[str],
            checked_at: datetime | None = None, stale: str = "") -> HealthReport:
    """The findings less what the user marked "not a problem" (and groups left with one photo)."""
    shown, hidden = [], 0
    for finding in findings:
        kept = [p for p in finding.photos if (finding.kind, p.content_hash) not in dismissed]
        keys = [k for k in finding.keys if (finding.kind, k) not in dismissed]
        hidden += len(finding.photos) - len(kept) if finding.photos else len(finding.keys) - len(keys)
        grouped = finding.kind in ("exact_duplicates", "near_duplicates", "split_leak")
        if (grouped and len(kept) < 2) or not (kept or keys):
            continue
        shown.append(Finding(finding.kind, finding.summary, kept, finding.keeper_id, finding.keeper_rule,
                             keys if not finding.photos else [p.content_hash for p in kept]))
    return HealthReport(shown, photos_checked, hidden, notes, checked_at, stale)


# --- the last scan, kept in the project ---------------------------------------------------------------------

def _stored(finding: Finding) -> dict:
    return {"kind": finding.kind, "summary": finding.summary, "keeper_id": finding.keeper_id,
            "keeper_rule": finding.keeper_rule, "keys": finding.keys,
            "photos": [[p.image_id, p.content_hash, p.reason] for p in finding.photos]}


def last_check(project: Project) -> HealthReport | None:
    """The last scan's findings as they apply now (``stale`` says when photos changed since); photos removed
    since are left out, dismissals made since apply. None when the project was never checked."""
    stored = health_store.load(project)
    if stored is None:
        return None
    with project.sessions() as session:
        # A photo counts when its id still holds the content that was checked: not a photo re-imported changed
        # since, nor a new one that took the id of one removed.
        paths = {(image_id, content_hash): path for image_id, path, content_hash in
                 session.execute(with_folder(select(Image.id, IMAGE_PATH, Image.content_hash)))}
    findings = []
    for item in stored.findings:
        if item.get("kind") not in KINDS:
            continue  # a kind this version no longer has
        photos = [FlaggedPhoto(image_id, Path(paths[image_id, content_hash]), content_hash, reason)
                  for image_id, content_hash, reason in item["photos"] if (image_id, content_hash) in paths]
        findings.append(Finding(item["kind"], item["summary"], photos, item.get("keeper_id"),
                                item.get("keeper_rule"), list(item.get("keys", []))))
    return _report(findings, stored.photos_then, dismissed_keys(project), stored.notes, stored.checked_at,
                   stored.stale_reason)


def _photos(project: Project) -> list[_Photo]:
    with project.sessions() as session:
        rows = session.execute(
            with_folder(select(Image.id, IMAGE_PATH, Image.content_hash, Image.width, Image.height, Image.mtime,
                               Image.split, ImageClass.name))
            .outerjoin(Label, Label.image_id == Image.id).outerjoin(ImageClass, ImageClass.id == Label.class_id)
            .where(Image.error.is_(None), Image.missing.is_(False)).order_by(Image.id)).all()
    return [_Photo(r[0], r[1], r[2], r[3] or 0, r[4] or 0, r[5], r[6], r[7]) for r in rows]


def _pixel_stats(photos: list[_Photo], notes: list[str], on_progress, cancel) -> dict[str, PhotoStats]:
    """Statistics per distinct content, decoded at reduced size in two threads (OpenCV releases the GIL)."""
    from desktop.io.images import load_rgb

    first = {}
    for photo in photos:
        first.setdefault(photo.content_hash, photo)
    todo = list(first.values())
    timer = RateTimer(len(todo))
    emit(on_progress, Progress(PHASE_CHECKING, 0, len(todo)))

    def measure(photo: _Photo) -> PhotoStats | None:
        if cancel is not None and cancel.is_set():
            return None
        try:
            return photo_stats(load_rgb(photo.path, min_long_side=STATS_SIDE))
        except Exception:  # unreadable since it was imported: noted, not fatal
            return None

    stats: dict[str, PhotoStats] = {}
    unreadable = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done, (photo, result) in enumerate(zip(todo, pool.map(measure, todo), strict=True), start=1):
            check_cancel(cancel)
            if result is None:
                unreadable += 1
            else:
                stats[photo.content_hash] = result
            if done % 64 == 0 or done == len(todo):
                emit(on_progress, Progress(PHASE_CHECKING, done, len(todo), timer.eta(done)))
    if unreadable:
        notes.append(f"{plural(unreadable, 'photo')} could not be read for the pixel checks.")
    return stats


def _duplicate_findings(members: list[_Photo], group, stats: dict[str, PhotoStats]) -> list[Finding]:
    if len(members) < 2:
        return []
    keeper, rule = suggest_keeper(members, stats)
    exact = len({m.content_hash for m in members}) == 1
    kind = "exact_duplicates" if exact else "near_duplicates"
    reasons = []
    for member in members:
        if member is keeper:
            reasons.append(f"suggested keeper ({rule}: {_keeper_detail(member, rule, stats)})")
        elif member.content_hash == keeper.content_hash:
            reasons.append(f"the same file content as {keeper.path.name}")
        else:
            reasons.append(f"looks like {keeper.path.name} (similarity at least {group.similarity:.3f})")
    flagged = [FlaggedPhoto(m.image_id, m.path, m.content_hash, r) for m, r in zip(members, reasons, strict=True)]
    summary = (f"{len(members)} copies of the same file" if exact else
               f"{len(members)} photos of nearly the same picture (similarity {group.similarity:.3f})")
    findings = [Finding(kind, summary + f"; keep {keeper.path.name} ({rule})", flagged, keeper.image_id, rule,
                        [m.content_hash for m in members])]
    if group.straddles_split:
        leak = [FlaggedPhoto(m.image_id, m.path, m.content_hash,
                             f"in {'validation' if m.split == 'val' else 'training'}; a copy is in "
                             f"{'training' if m.split == 'val' else 'validation'}")
                for m in members if m.split in ("train", "val")]
        findings.append(Finding("split_leak", f"{len(leak)} copies on both sides of the train/validation split: "
                                "validation accuracy is flattered", leak, keys=[p.content_hash for p in leak]))
    return findings


def suggest_keeper(members: Sequence[_Photo], stats: dict[str, PhotoStats]) -> tuple[_Photo, str]:
    """The photo to keep and the rule that decided: largest (pixels), then sharpest, then oldest (file time)."""
    def sharpness(photo: _Photo) -> float:
        found = stats.get(photo.content_hash)
        return found.sharpness if found else 0.0

    ranked = sorted(members, key=lambda m: (-m.width * m.height, -sharpness(m), m.mtime, m.image_id))
    best, runner_up = ranked[0], ranked[1]
    if best.width * best.height > runner_up.width * runner_up.height:
        return best, "largest"
    if sharpness(best) > SHARPER_BY * sharpness(runner_up):
        return best, "sharpest"
    oldest = min((m for m in members if m.width * m.height == best.width * best.height),
                 key=lambda m: (m.mtime, m.image_id))
    return oldest, "oldest"


def _keeper_detail(photo: _Photo, rule: str, stats: dict[str, PhotoStats]) -> str:
    if rule == "largest":
        return f"{photo.width}×{photo.height}"
    if rule == "sharpest":
        return f"Laplacian variance {stats[photo.content_hash].sharpness:.0f}"
    return "the earliest file time"


def _pixel_findings(photos: list[_Photo], stats: dict[str, PhotoStats], notes: list[str]) -> list[Finding]:
    sized = [Sized(p.width, p.height, stats.get(p.content_hash)) for p in photos]
    findings = []
    for kind, flags in per_photo_flags(sized, notes).items():
        items = [FlaggedPhoto(photos[i].image_id, photos[i].path, photos[i].content_hash, reason)
                 for i, reason in flags]
        if items:
            findings.append(Finding(kind, summary(kind, len(items)), items, keys=[p.content_hash for p in items]))
    return findings


def _outliers(photos: list[_Photo], index, notes: list[str]) -> list[Finding]:
    """Photos whose features are far from every class's centre (from the collection's, with no classes)."""
    rows = [(p, index.row(p.image_id)) for p in photos if p.image_id in index]
    if len(rows) < MIN_FOR_STATISTICS:
        notes.append(f"The outlier check needs at least {MIN_FOR_STATISTICS} photos with features; skipped.")
        return []
    vectors = index.vectors[[row for _, row in rows]]
    by_class: dict[str, list[int]] = {}
    for position, (photo, _) in enumerate(rows):
        if photo.class_name is not None:
            by_class.setdefault(photo.class_name, []).append(position)
    classes = {name: members for name, members in by_class.items() if len(members) >= MIN_CLASS_PHOTOS}
    if len(classes) >= 2:
        names = list(classes)
        centres = np.stack([vectors[classes[name]].mean(axis=0) for name in names])
        against = "every class"
    else:
        names, centres, against = ["the collection"], vectors.mean(axis=0, keepdims=True), "the collection"
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    similarity = vectors @ centres.T
    nearest = similarity.argmax(axis=1)
    distance = 1.0 - similarity.max(axis=1)
    z = robust_z(distance)
    items = [FlaggedPhoto(photo.image_id, photo.path, photo.content_hash,
                          f"far from {against} (nearest: {names[nearest[i]]}, distance {distance[i]:.2f}, "
                          f"typical {float(np.median(distance)):.2f})")
             for i, (photo, _) in enumerate(rows) if z[i] > OUTLIER_Z]
    if not items:
        return []
    return [Finding("outlier", f"{plural(len(items), 'photo')} unlike {against} in the backbone's features", items,
                    keys=[p.content_hash for p in items])]


def class_key(name: str) -> str:
    """The dismissal key of a class-level finding (a class has no content hash)."""
    return "class:" + hashlib.blake2b(name.encode(), digest_size=16).hexdigest()


def _imbalance(photos: list[_Photo]) -> list[Finding]:
    counts: dict[str, int] = {}
    for photo in photos:
        if photo.class_name is not None:
            counts[photo.class_name] = counts.get(photo.class_name, 0) + 1
    if len(counts) < 2:
        return []
    largest_name = max(counts, key=lambda name: (counts[name], name))
    largest = counts[largest_name]
    small = sorted((name for name, count in counts.items() if count * IMBALANCE_RATIO <= largest),
                   key=lambda name: (counts[name], name))
    if not small:
        return []
    listed = ", ".join(f"'{name}' {counts[name]}" for name in small)
    return [Finding("class_imbalance", f"{listed} photos against '{largest_name}' {largest}: the model will lean "
                    f"to the big classes (label more of the small ones)", [], keys=[class_key(n) for n in small])]


# --- "not a problem" -------------------------------------------------------------------------------------------

def dismissed_keys(project: Project) -> set[tuple[str, str]]:
    with project.sessions() as session:
        return {(kind, key) for kind, key in
                session.execute(select(DismissedFinding.kind, DismissedFinding.content_hash))}


def dismiss(project: Project, kind: str, keys: Iterable[str]) -> None:
    """Mark ``kind`` as not a problem for these photos (content hashes) or classes (``class_key``), for good."""
    if kind not in KINDS:
        raise HealthError(f"There is no check called '{kind}' (one of: {', '.join(KINDS)}).")
    rows = [{"kind": kind, "content_hash": key} for key in dict.fromkeys(keys)]
    if rows:
        with transaction(project.sessions) as session:
            session.execute(sqlite_insert(DismissedFinding).values(rows).on_conflict_do_nothing())


def undismiss(project: Project, kind: str, keys: Iterable[str]) -> None:
    keys = list(keys)
    with transaction(project.sessions) as session:
        for chunk in in_chunks(keys):
            session.execute(delete(DismissedFinding).where(DismissedFinding.kind == kind,
                                                           DismissedFinding.content_hash.in_(chunk)))


# --- "keep one" ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RemovedPhotos:
    """What ``keep_one`` removed, row for row, so ``undo`` can put it back."""

    images: list[dict]
    labels: list[dict]
    predictions: list[dict]
    sort_operations: dict[int, int]  # sort operation id -> the image id it pointed at

    @property
    def image_ids(self) -> list[int]:
        return [row["id"] for row in self.images]


def _rows(session, model, column, ids: list[int]) -> list[dict]:
    table = model.__table__
    found = []
    for chunk in in_chunks(ids):
        found.extend(dict(row._mapping) for row in session.execute(select(table).where(column.in_(chunk))))
    return found


def keep_one(project: Project, image_ids: Iterable[int], keeper_id: int) -> RemovedPhotos:
    """Remove every photo of ``image_ids`` but ``keeper_id`` from the project; their files are not touched."""
    others = [int(i) for i in dict.fromkeys(image_ids) if int(i) != keeper_id]
    if keeper_id not in {int(i) for i in image_ids}:
        raise HealthError("The photo to keep must be one of the group.")
    with transaction(project.sessions) as session:
        images = _rows(session, Image, Image.id, others)
        labels = _rows(session, Label, Label.image_id, others)
        predictions = _rows(session, Prediction, Prediction.image_id, others)
        operations = {row["id"]: row["image_id"] for row in _rows(session, SortOperation, SortOperation.image_id,
                                                                   others)}
        for chunk in in_chunks(others):
            session.execute(delete(Image).where(Image.id.in_(chunk)))
        health_store.photos_removed(session, images)  # the user's own removal leaves the last check current
    return RemovedPhotos(images, labels, predictions, operations)


def undo(project: Project, removed: RemovedPhotos) -> int:
    """Put back what ``keep_one`` removed; returns how many photos came back. A photo imported again since
    (same folder and path) or whose folder was removed stays as it is now; so do labels of deleted classes."""
    with transaction(project.sessions) as session:
        folders = set(session.scalars(select(Folder.id)))
        present = {tuple(row) for row in session.execute(select(Image.folder_id, Image.rel_path))}
        restore = [row for row in removed.images
                   if row["folder_id"] in folders and (row["folder_id"], row["rel_path"]) not in present]
        ids = [row["id"] for row in restore]
        # An id reused by a newer photo: the removed ones cannot come back under their own ids.
        if any(session.scalar(select(Image.id).where(Image.id.in_(chunk)).limit(1)) for chunk in in_chunks(ids)):
            raise HealthError("Cannot undo: the project changed since these photos were removed.")
        restored = {row["id"] for row in restore}
        if restore:
            session.execute(insert(Image), restore)
            health_store.photos_restored(session, restore)
        classes = set(session.scalars(select(ImageClass.id)))
        models = set(session.scalars(select(TrainedModel.id)))
        labels = [row for row in removed.labels if row["image_id"] in restored and row["class_id"] in classes]
        predictions = [row for row in removed.predictions
                       if row["image_id"] in restored and row["model_id"] in models]
        if labels:
            session.execute(insert(Label), labels)
        if predictions:
            session.execute(insert(Prediction).prefix_with("OR IGNORE"), predictions)
        for operation_id, image_id in removed.sort_operations.items():
            if image_id in restored:
                session.execute(update(SortOperation).where(SortOperation.id == operation_id,
                                                            SortOperation.image_id.is_(None))
                                .values(image_id=image_id))
    return len(restore)
