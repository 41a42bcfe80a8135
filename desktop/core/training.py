"""Training a project's classifier: labelled photos in, a new active model (file + database row) out.

The project side of training. The ML layer (``desktop.ml.train_job``: the trainer, or the CPU build's frozen
path) knows paths, labels and splits;
this module decides which photos take part, keeps each photo's train/validation split in the database
(sticky across retrains), saves the checkpoint in the project's ``models`` folder, records the model
and makes it active, and translates the trainer's events into ``TrainingProgress`` for the GUI and CLI.

Training imports torch in the full build (not this module's import): the GUI trains in a worker thread.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import select, update

from desktop.core.duplicates import duplicates_across_split
from desktop.core.model_results import results_fields
from desktop.core.models_registry import active_model
from desktop.core.project import Project
from desktop.core.training_types import CurvePoint, HeldOutPrediction, TrainingProgress, TrainingSummary
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image, ImageClass, Label, TrainedModel, utcnow
from desktop.ml import distributed
from desktop.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, training_options
from desktop.ml.options import TrainingOptions
from desktop.ml.splits import MIN_IMAGES_PER_CLASS, NotEnoughData, assign_splits
from desktop.ml.train_job import train
from desktop.ml.train_record import TrainItem, TrainResult, WarmStart, warm_start_from
from desktop.progress import (
    PHASE_CROSS_VALIDATING,
    PHASE_EVALUATING,
    PHASE_FEATURES,
    PHASE_LOADING,
    PHASE_TRAINING,
    CancelToken,
    EpochEnd,
    Event,
    Notice,
    Progress,
)
from desktop.wording import plural

# How the ML layer's phases read in the UI, and which TrainingProgress.phase they belong to.
_PHASES = {
    PHASE_LOADING: ("preparing", "Loading the pretrained backbone"),
    PHASE_FEATURES: ("features", "Computing image features"),
    PHASE_TRAINING: ("training", "Training"),
    PHASE_CROSS_VALIDATING: ("training", "Cross-validating the classifier"),
    PHASE_EVALUATING: ("evaluating", "Checking the validation photos"),
}


@dataclass(frozen=True)
class TrainingData:
    """The photos a run uses, in class order and within a class by content hash (so the same photos give the same
    run whatever ids they have); classes too small to train on are left out and named."""

    class_names: list[str]
    class_ids: list[int]  # aligned with class_names
    items: list[TrainItem]  # key = image id
    left_out: list[str]  # class names with some labelled photos but fewer than MIN_IMAGES_PER_CLASS
    # Labelled photos left out because the file is gone or differs (size or modification time) from what was
    # indexed: their cached features and content hash would describe another picture. A re-scan fixes them.
    changed: list[Path] = field(default_factory=list)


def gather_training_data(project: Project, seed: int = 0) -> TrainingData:
    """Labelled, readable photos still on disk as indexed; gives new ones a split (stored) and checks there is
    enough to train."""
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Folder.root, Image.rel_path, Image.content_hash, Image.split, ImageClass.id,
                   ImageClass.name, Image.size, Image.mtime)
            .join(Label, Label.image_id == Image.id)
            .join(ImageClass, ImageClass.id == Label.class_id)
            .join(Folder, Folder.id == Image.folder_id)
            .where(Image.error.is_(None), Image.missing.is_(False))
            # Content, not ids: an import hands ids out in the order its threads finish, and the folds, the
            # near-duplicate groups and every shuffle follow this order. Copies (one hash) are interchangeable.
            .order_by(ImageClass.position, ImageClass.name, Image.content_hash, Folder.root, Image.rel_path,
                      Image.id)
        ).all()
        class_order = list(session.execute(
            select(ImageClass.id, ImageClass.name).order_by(ImageClass.position, ImageClass.name,
                                                             ImageClass.id)).all())

    by_class: dict[int, list] = defaultdict(list)
    changed: list[Path] = []
    for row in rows:
        if _unchanged_on_disk(Path(row[1]) / row[2], row[7], row[8]):
            by_class[row[5]].append(row)
        else:
            changed.append(Path(row[1]) / row[2])
    kept = [(class_id, name) for class_id, name in class_order if len(by_class[class_id]) >= MIN_IMAGES_PER_CLASS]
    left_out = [name for class_id, name in class_order if 0 < len(by_class[class_id]) < MIN_IMAGES_PER_CLASS]
    if len(kept) < 2:
        counts = ", ".join(f"{name} {len(by_class[class_id])}" for class_id, name in class_order) or "no classes"
        raise NotEnoughData([f"Label at least {MIN_IMAGES_PER_CLASS} photos in each of at least 2 classes "
                             f"(now: {counts})."])

    labels = {row[0]: row[5] for class_id, _ in kept for row in by_class[class_id]}
    existing = {row[0]: row[4] for class_id, _ in kept for row in by_class[class_id] if row[4] is not None}
    content = {row[0]: row[3] for class_id, _ in kept for row in by_class[class_id]}
    new_splits = assign_splits(labels, existing, seed=seed, content_keys=content)
    if new_splits:
        _store_splits(project, new_splits)
    splits = {**existing, **new_splits}

    items = []
    for index, (class_id, _) in enumerate(kept):
        for image_id, root, rel_path, content_hash, *_ in by_class[class_id]:
            items.append(TrainItem(Path(root) / rel_path, content_hash, index, splits[image_id], key=image_id))
    return TrainingData([name for _, name in kept], [class_id for class_id, _ in kept], items, left_out, changed)


def _unchanged_on_disk(path: Path, size: int, mtime: float) -> bool:
    """The file is there with the size and modification time the import saw (what the importer's re-scan
    compares too): its content hash, and so its cached features, still describe it."""
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return stat.st_size == size and stat.st_mtime == mtime


def changed_photos_note(changed: list[Path]) -> str | None:
    if not changed:
        return None
    names = ", ".join(path.name for path in changed[:5]) + ("…" if len(changed) > 5 else "")
    were = "was" if len(changed) == 1 else "were"
    return (f"{plural(len(changed), 'labelled photo')} {were} left out because they changed or disappeared since "
            f"they were indexed ({names}); re-scan the folders (F5) to use them again.")


def _store_splits(project: Project, splits: dict[int, str]) -> None:
    with transaction(project.sessions) as session:
        for split in ("train", "val"):
            ids = [image_id for image_id, value in splits.items() if value == split]
            for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
                session.execute(update(Image).where(Image.id.in_(ids[start:start + 900])).values(split=split))


def train_project(project: Project, options: TrainingOptions,
                  on_progress: Callable[[TrainingProgress], None] | None = None,
                  cancel: CancelToken | None = None) -> TrainingSummary:
    """Train on the project's labelled photos, save and activate the model; raises NotEnoughData, WeightsError,
    Cancelled (the active model and the project are then unchanged) or another PigeonholeError."""
    from desktop.ml.backbones import get_backbone

    started = time.perf_counter()
    # "fast", "accurate": the registry name is what models and warm starts compare.
    options = replace(options, backbone=get_backbone(options.backbone).name)
    # In a distributed run (torchrun) rank 0 alone reads the photos and stores new splits, then hands every rank
    # the same list; each trains its share, and rank 0 alone saves the model and makes it active.
    data = distributed.main_first(lambda: gather_training_data(project, seed=options.seed))
    reporter = _ProgressReporter(on_progress)
    notes = []
    if data.left_out:
        notes.append(f"Left out (fewer than {MIN_IMAGES_PER_CLASS} labelled photos): {', '.join(data.left_out)}.")
    if (note := changed_photos_note(data.changed)) is not None:
        notes.append(note)
    warm_start = _warm_start(project, options, data, notes) if options.warm_start else None
    # The checkpoint records whether a warm start happened, not only whether one was asked for.
    options = replace(options, warm_start=warm_start is not None)
    result = train(options, data.items, data.class_names, project.cache_dir / "features",
                   on_progress=reporter, cancel=cancel, warm_start=warm_start)
    notes.extend(result.notices)
    if result.evaluation == "validation" and result.mode == "frozen" and distributed.is_main():
        # Its features are all cached now: the check is one small matrix product. (Out-of-fold metrics have no
        # fixed split to leak across.)
        leaks = duplicates_across_split(project, data.items, options.backbone)
        if leaks:
            have = "has" if len(leaks) == 1 else "have"
            notes.append(f"{plural(len(leaks), 'validation photo')} {have} a near-copy among the training photos, so "
                         "this fine-tuned model's validation accuracy is flattered: Model ▸ Find Near-Duplicates shows "
                         "them.")
    held_out = held_out_predictions(result)
    results = results_fields(reporter.history, held_out, notes)  # what the Train tab shows again on reopening
    model_id = distributed.main_first(lambda: _save_model(project, result, data.class_ids, results))
    seconds = time.perf_counter() - started
    return _summary(model_id, options, data, result, reporter.history, notes, seconds, held_out)


def _warm_start(project: Project, options: TrainingOptions, data: TrainingData, notes: list[str]) -> WarmStart | None:
    """The active model's head, its rows matched to this run's classes by class id (so a renamed class keeps
    its row; a merged class keeps the row of the class it was merged into); None when it does not apply."""
    model = active_model(project)
    if model is None or model.backbone != options.backbone:
        return None
    try:
        checkpoint = load_checkpoint(model.file)
    except CheckpointError:
        return None  # a missing or damaged old model only means a cold start
    old_ids = model.settings.get("class_ids")
    if old_ids is not None and len(old_ids) == len(model.class_names):
        rows = [old_ids.index(class_id) if class_id in old_ids else None for class_id in data.class_ids]
    else:  # models from before class ids were recorded: match by name
        rows = [model.class_names.index(n) if n in model.class_names else None for n in data.class_names]
    warm = warm_start_from(checkpoint, rows)
    if warm is not None:
        kept = sum(row is not None for row in rows)
        notes.append(f"Started from model #{model.id}'s classifier ({kept} of {len(rows)} classes carried over).")
    return warm


def _save_model(project: Project, result: TrainResult, class_ids: list[int], results: dict) -> int:
    """Write the checkpoint, then record it and make it the active model in one transaction; the row shows the
    checkpoint's options (as they ran) and keeps ``results`` (model_results.results_fields) with its metrics."""
    project.models_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    file = project.models_dir / f"model-{stamp}-{secrets.token_hex(3)}.pt"
    checkpoint = result.checkpoint
    save_checkpoint(file, checkpoint)
    training = _plain({key: value for key, value in result.record.as_dict().items() if key != "options"})
    try:
        with transaction(project.sessions) as session:
            session.execute(update(TrainedModel).values(is_active=False))
            row = TrainedModel(
                file=file.relative_to(project.path).as_posix(), backbone=checkpoint["backbone"], mode=result.mode,
                weights_source=checkpoint["weights"]["source"], class_names=list(checkpoint["class_names"]),
                train_images=result.train_count, val_images=result.val_count,
                val_accuracy=result.metrics.accuracy if result.val_count else None,
                metrics={**result.metrics.to_dict(), **_evaluation_fields(result), **results},
                settings={"options": training_options(checkpoint).as_dict(), "class_ids": class_ids,
                          "training": training},
                device=_device_type(result), seconds=result.duration_seconds, is_active=True)
            session.add(row)
            session.flush()
            return row.id
    except BaseException:
        file.unlink(missing_ok=True)  # no row points at it: don't leave an orphan model file
        raise


def _evaluation_fields(result: TrainResult) -> dict:
    """How the metrics were measured and how well calibrated the model is (stored with the model's metrics)."""
    return {"evaluation": result.evaluation, "folds": result.folds, "temperature": round(result.temperature, 4),
            "ece": None if result.ece is None else round(result.ece, 4),
            "ece_uncalibrated": None if result.ece_uncalibrated is None else round(result.ece_uncalibrated, 4),
            "reliability": result.reliability, "calibration": result.calibration}


def held_out_predictions(result: TrainResult) -> dict[int, HeldOutPrediction]:
    """Image id -> the held-out prediction that put it in its confusion-matrix cell, with its confidence from
    the checkpoint's held-out probabilities (aligned with ``val_items``) when they are there."""
    probabilities = result.checkpoint.get("out_of_fold", {}).get("probabilities")
    rows = probabilities.tolist() if probabilities is not None else []
    aligned = len(rows) == len(result.val_items)
    return {item.key: HeldOutPrediction(item.label, predicted,
                                        float(rows[index][predicted]) if aligned else None)
            for index, (item, predicted) in enumerate(zip(result.val_items, result.val_predicted, strict=True))}


def _device_type(result: TrainResult) -> str:
    """"cpu", "cuda" or "mps": what tools reading the JSON compare; the UI words it."""
    return result.record.device.split(":")[0]


def _plain(value):
    """JSON-safe copy (tuples to lists, paths to strings) for the models table."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _summary(model_id: int, options: TrainingOptions, data: TrainingData, result: TrainResult,
             history: list[CurvePoint], notes: list[str], seconds: float,
             held_out: dict[int, HeldOutPrediction]) -> TrainingSummary:
    metrics = result.metrics
    per_class = {
        name: {"precision": round(metrics.precision[i], 4), "recall": round(metrics.recall[i], 4),
               "f1": round(metrics.f1[i], 4), "support": metrics.support[i]}
        for i, name in enumerate(data.class_names)
    }
    confusion_images: dict[tuple[int, int], list[int]] = defaultdict(list)
    for image_id, prediction in held_out.items():
        confusion_images[(prediction.true_index, prediction.predicted_index)].append(image_id)
    top_k = {str(metrics.top_k): metrics.top_k_accuracy} if metrics.top_k and metrics.top_k_accuracy is not None \
        else {}
    return TrainingSummary(
        model_id=model_id, backbone=options.backbone, mode=result.mode, device=_device_type(result),
        classes=list(data.class_names), train_images=result.train_count, val_images=result.val_count,
        val_accuracy=round(metrics.accuracy, 4) if result.val_count else None, per_class=per_class,
        confusion=metrics.confusion, seconds=seconds, history=history, top_k=top_k,
        confusion_images=dict(confusion_images), notes=notes, evaluation=result.evaluation, folds=result.folds,
        temperature=round(result.temperature, 4), ece=None if result.ece is None else round(result.ece, 4),
        ece_uncalibrated=None if result.ece_uncalibrated is None else round(result.ece_uncalibrated, 4),
        reliability=result.reliability, held_out=held_out, trained_at=utcnow(), calibration=dict(result.calibration))


class _ProgressReporter:
    """Turns the ML layer's events into TrainingProgress, keeping the epoch history for the curves."""

    def __init__(self, on_progress: Callable[[TrainingProgress], None] | None) -> None:
        self.on_progress = on_progress
        self.history: list[CurvePoint] = []
        self.stage_label = ""
        self.epoch = self.epochs = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress) and event.phase == PHASE_CROSS_VALIDATING:
            self._send("training", f"Cross-validating the classifier: fit {event.done} of {event.total}",
                       event.done, event.total, event.eta_seconds)
        elif isinstance(event, EpochEnd):
            self.history.append(CurvePoint(len(self.history) + 1, event.train_loss, event.train_accuracy,
                                           event.val_loss if event.val_loss is not None else float("nan"),
                                           event.val_accuracy if event.val_accuracy is not None else float("nan")))
            self.epoch, self.epochs = event.epoch, event.epochs
            self.stage_label = "Fine-tuning the backbone" if event.stage == "finetune" else "Training the classifier"
            self._send("training", self.stage_label, event.epoch, event.epochs, event.eta_seconds)
        elif isinstance(event, Progress):
            phase, text = _PHASES.get(event.phase, ("training", event.phase.capitalize()))
            if phase == "training":
                if event.total and self.stage_label.startswith("Fine"):  # batches within a fine-tuning epoch
                    text = f"{self.stage_label}: batch {event.done} of {event.total}"
                    self._send(phase, text, event.done, event.total, event.eta_seconds)
                return  # the linear head's per-epoch Progress repeats the EpochEnd just sent
            if phase == "features" and event.total:
                text = f"{text}: {event.done:,} of {event.total:,} photos"
            self._send(phase, text, event.done, event.total, event.eta_seconds)
        elif isinstance(event, Notice):
            self._send("notice", event.message, 0, 0, None)

    def _send(self, phase: str, message: str, done: int, total: int, eta: float | None) -> None:
        if self.on_progress is not None:
            self.on_progress(TrainingProgress(phase, message, done, total, self.epoch, self.epochs, eta,
                                              tuple(self.history)))
