"""Planning a sort (reads only): which photo goes to which class folder under which free name, by label,
by prediction and the confidence or precision rule, and what it needs on the destination disk."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.core.models_registry import active_model_row
from desktop.core.project import Project
from desktop.core.sorting.model import COPY, MAX_RENAMES, MOVE, UNSURE, SortError, SortPlan, SortRequest
from desktop.core.sorting.placing import (
    MISSING,
    FileNow,
    FreeNames,
    Links,
    Travelling,
    file_now,
    place,
    travelling_companions,
)
from desktop.core.sorting.precision_rule import advice, held_out_of
from desktop.db.models import Folder, Image, ImageClass, Label, Prediction, TrainedModel
from desktop.db.queries import BY_PATH, image_path, in_chunks, with_folder
from desktop.io.companions import JPEG_SUFFIXES, FolderListings, companions_of, is_raw
from desktop.io.file_names import name_key, safe_folder_name
from desktop.ml.precision import ClassRule, class_rules, expected_mistakes


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
    destination = _checked_destination(project, request.destination)  # the request checked itself when made
    with project.sessions() as session:
        model = _chosen_model(session, request.model_id)
        model_classes = list(model.class_names) if model else []
        rows = _selected_images(session, request)
        predictions = _predictions(session, model.id, request.image_ids) if model else {}
        label_classes = list(session.scalars(select(ImageClass.name).order_by(ImageClass.position, ImageClass.id)))
        names = FreeNames.below(session, destination)
        model_file = project.path / model.file if model else None
        model_metrics = dict(model.metrics or {}) if model else None
    plan = SortPlan(destination, request.mode, request.threshold, request.follow_labels, model.id if model else None)
    if model is None:
        plan.warnings.append("No trained model is active: only labelled photos can go to a class folder; "
                             f"the others go to {UNSURE}.")
    rules = _precision_rules(plan, request, model.id if model else None, model_metrics, model_file, model_classes)
    thresholds = [rule.threshold for rule in rules] if rules else None
    tally = _RuleTally()
    folders = _class_folders(destination, (*model_classes, *label_classes))
    output_folders = {name_key(name) for name in (*folders.values(), *map(safe_folder_name, folders))}
    placing = _Placing(plan, names, _device_of(destination))
    seen: set[tuple[int, int]] = set()  # (device, inode): the files already planned
    listings = FolderListings()
    selected = {image_path(row.root, row.rel_path): row for row in rows}
    for row in rows:
        source = image_path(row.root, row.rel_path)
        if _led_by_twin(source, row, selected, listings):
            continue  # a RAW whose JPEG is sorted too: it follows the JPEG's decision, as its companion
        if _in_output_folder(source, destination, output_folders) and not row.error and not row.missing:
            plan.already_sorted += 1  # the output of an earlier sort into this destination: never re-sorted
            continue
        photo = _current_file(row, source, request.mode, seen)
        if isinstance(photo, str):
            plan.skipped.append((source, photo))
            continue
        prediction = predictions.get(row.id)
        class_name, why, confidence = _decide(row, photo.digest, model_classes, prediction, request, thresholds)
        tally.count(plan, why, prediction[1] if prediction else None, confidence)
        companions = travelling_companions(source, listings, seen, plan)
        placing.place(row, photo, destination / folders.get(class_name, safe_folder_name(class_name)),
                      class_name, why, confidence, companions, selected)
    order = {name: index for index, name in enumerate((*model_classes, *label_classes))}
    plan.per_class = dict(sorted(placing.counts.items(), key=lambda item: (
        item[0] == UNSURE, order.get(item[0], len(order)), item[0].casefold())))
    estimate = expected_mistakes(rules, tally.by_prediction)
    plan.expected_mistakes, plan.mistakes_range = estimate.expected, (estimate.low, estimate.high)
    if rules:
        plan.advice = advice(rules, model_classes, request.precision, tally.blocked, tally.predicted)
    plan.free_bytes = _free_space(destination)
    if plan.free_bytes is not None and plan.bytes_to_write > plan.free_bytes:
        plan.warnings.append(f"The photos need {_size(plan.bytes_to_write)} but only {_size(plan.free_bytes)} is "
                             f"free at {destination}: sorting will stop when the disk is full.")
    return plan


def _precision_rules(plan: SortPlan, request: SortRequest, model_id: int | None, metrics: dict | None,
                     model_file: Path | None, model_classes: list[str]) -> list[ClassRule]:
    """The per-class rules of a sort by precision (none: a threshold decides), written into ``plan``."""
    if request.precision is None or model_id is None:
        return []
    held_out = held_out_of(metrics, model_file, len(model_classes))
    if held_out is None:
        plan.warnings.append(f"Model #{model_id} keeps no held-out predictions to measure its precision by (it "
                             f"was trained by an older version, or its file cannot be read), so photos are "
                             f"sorted by the confidence threshold {request.threshold:.2f} instead; train again "
                             f"to sort by precision.")
        return []
    rules = class_rules(held_out, request.precision)
    plan.precision = request.precision
    plan.class_thresholds = dict(zip(model_classes, [rule.threshold for rule in rules], strict=True))
    return rules


def _current_file(row: _Row, source: Path, mode: str, seen: set[tuple[int, int]]) -> FileNow | str:
    """The photo as it is now (its stat and content hash), or why it cannot be sorted."""
    if row.error:
        return f"it cannot be read as an image ({row.error})"
    if row.missing:
        return MISSING
    return file_now(source, row, seen, Links.REFUSED if mode == MOVE else Links.FOLLOWED)


@dataclass
class _RuleTally:
    """What the rule decided, per photo: the plan's counts, and for the precision rule's estimate and advice the
    photos sorted by prediction (class index, confidence) and, per class, those predicted and those left unsure."""

    by_prediction: list[tuple[int, float]] = field(default_factory=list)
    predicted: Counter[int] = field(default_factory=Counter)
    blocked: Counter[int] = field(default_factory=Counter)

    def count(self, plan: SortPlan, why: str, index: int | None, confidence: float | None) -> None:
        if why == "label":
            plan.from_labels += 1
        elif why == "unpredicted":
            plan.unpredicted += 1
        elif index is not None and confidence is not None:
            self.predicted[index] += 1
            if why == "prediction":
                self.by_prediction.append((index, confidence))
            else:  # unsure, unreachable
                plan.below_threshold += 1
                self.blocked[index] += 1


class _Placing:
    """Each decided photo placed in its class folder with its companions (``placing.place``), counted per class,
    and the bytes the sort will write."""

    def __init__(self, plan: SortPlan, names: FreeNames, destination_device: int | None) -> None:
        self.plan, self.names, self.destination_device = plan, names, destination_device
        self.counts: Counter[str] = Counter()

    def place(self, row: _Row, photo: FileNow, folder: Path, class_name: str, why: str, confidence: float | None,
              companions: list[Travelling], selected: dict[Path, _Row]) -> None:
        place(self.plan, self.names, photo, row.id, folder, class_name, why, confidence, companions, selected)
        for _companion, companion_info, _digest in companions:
            self._writes(companion_info)
        self.counts[class_name] += 1
        self._writes(photo.info)

    def _writes(self, info: os.stat_result) -> None:
        if self.plan.mode == COPY or info.st_dev != self.destination_device:
            self.plan.bytes_to_write += info.st_size


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
    return active_model_row(session)


def _selected_images(session: Session, request: SortRequest) -> list[_Row]:
    query = (
        with_folder(select(Image.id, Folder.root, Image.rel_path, Image.size, Image.mtime, Image.content_hash,
                           Image.error, Image.missing, ImageClass.name))
        .outerjoin(Label, Label.image_id == Image.id)
        .outerjoin(ImageClass, ImageClass.id == Label.class_id)
        .order_by(*BY_PATH)
    )
    if request.image_ids is None:
        if request.folder_id is not None:
            query = query.where(Image.folder_id == request.folder_id)
        return [_Row(*row) for row in session.execute(query)]
    rows: list[_Row] = []
    for chunk in in_chunks(list(dict.fromkeys(request.image_ids))):
        rows.extend(_Row(*row) for row in session.execute(query.where(Image.id.in_(chunk))))
    return sorted(rows, key=lambda row: (row.root, row.rel_path))


def _predictions(session: Session, model_id: int,
                 image_ids: Sequence[int] | None) -> dict[int, tuple[str, int, float]]:
    """Each image's prediction by the model, with the content hash it was made on: ``_decide`` accepts it only
    for the bytes on disk now (hashed while planning, which may be newer than the project's stored hash)."""
    query = select(Prediction.image_id, Prediction.content_hash, Prediction.predicted_index,
                   Prediction.confidence).where(Prediction.model_id == model_id)
    if image_ids is None:
        return {row[0]: (row[1], row[2], row[3]) for row in session.execute(query)}
    found: dict[int, tuple[str, int, float]] = {}
    for chunk in in_chunks(list(dict.fromkeys(image_ids))):
        for row in session.execute(query.where(Prediction.image_id.in_(chunk))):
            found[row[0]] = (row[1], row[2], row[3])
    return found


def _in_output_folder(source: Path, destination: Path, output_folders: set[str]) -> bool:
    if not source.is_relative_to(destination):
        return False
    parts = source.relative_to(destination).parts
    return len(parts) >= 2 and name_key(parts[0]) in output_folders


def _class_folders(destination: Path, class_names: Sequence[str]) -> dict[str, str]:
    """One folder name per class, no two alike on any file system: classes "Cat" and "cat" (or "a/b" and "a_b")
    get "Cat" and "cat (2)". A folder already in the destination under another case ("CATS" for "cats") is
    used as it is spelled, so a sort lands in the same folders on every drive; a file or a link with a class
    folder's name is never written through: that class takes the next free name."""
    on_disk: dict[str, tuple[str, bool]] = {}
    with contextlib.suppress(OSError):  # a destination that does not exist yet holds nothing
        for entry in os.scandir(destination):
            on_disk.setdefault(name_key(entry.name), (entry.name, entry.is_dir(follow_symlinks=False)))
    folders: dict[str, str] = {}
    used: set[str] = set()
    for class_name in dict.fromkeys((UNSURE, *class_names)):  # _unsure first: it is always "_unsure"
        base = candidate = safe_folder_name(class_name)
        for number in range(2, MAX_RENAMES + 2):
            key = name_key(candidate)
            there = on_disk.get(key)
            if key not in used and (there is None or there[1]):
                candidate = there[0] if there else candidate
                break
            candidate = f"{base} ({number})"
        used.add(name_key(candidate))
        folders[class_name] = candidate
    return folders


def _led_by_twin(source: Path, row: _Row, selected: dict[Path, _Row], listings: FolderListings) -> bool:
    """A RAW whose JPEG twin is sorted too goes where the JPEG goes: one decision for the pair."""
    if not is_raw(source):
        return False
    for companion in companions_of(source, listings.near(source)):
        twin = selected.get(companion.path)
        if companion.kind == "twin" and companion.path.suffix.lower() in JPEG_SUFFIXES and twin is not None \
                and not twin.error and not twin.missing:
            return True
    return False


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
