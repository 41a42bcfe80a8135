"""Running the active model over a project's photos and storing each photo's class probabilities.

Photos already predicted by the same model on the same file content are skipped, so predicting again
after labelling or importing only touches what is new. Work goes in chunks, each stored as soon as it is
done: a cancel keeps every finished chunk, and a frozen-mode model's features go to the project's feature
cache as they are computed, so even an unfinished chunk is quick the next time. Imports torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from desktop.core.models_registry import ModelInfo, active_model, list_models
from desktop.core.prediction_store import store_predictions
from desktop.core.project import Project
from desktop.db.models import Image, Label, Prediction
from desktop.db.queries import BY_PATH, IMAGE_PATH, current_prediction, with_folder
from desktop.errors import PigeonholeError
from desktop.ml import distributed
from desktop.ml.predict import Predictor
from desktop.progress import CancelToken, Notice, Progress, RateTimer, check_cancel

# Big enough that starting the decoding workers is noise, small enough that a cancel loses little.
CHUNK = 1024
SCOPES = ("all", "unlabelled")


class NoModel(PigeonholeError):
    pass


@dataclass(frozen=True)
class PredictProgress:
    done: int  # photos of this run finished
    total: int  # photos this run predicts (already-predicted ones not counted)
    eta_seconds: float | None = None
    message: str = ""


@dataclass
class PredictSummary:
    model_id: int
    predicted: int  # computed in this run
    already: int  # skipped: predicted before by this model on the same content
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0


def predict_project(project: Project, scope: str | int = "all", *, model_id: int | None = None, force: bool = False,
                    on_progress: Callable[[PredictProgress], None] | None = None,
                    cancel: CancelToken | None = None) -> PredictSummary:
    """Predict the readable photos in ``scope`` ("all", "unlabelled" or a folder id) with the active (or given)
    model. Raises NoModel, CheckpointError, or Cancelled (finished chunks are kept).

    In a distributed run (torchrun) every rank predicts its share of each chunk and rank 0 alone stores the
    chunk; rank 0's summary counts them all."""
    started = time.perf_counter()
    ranks = distributed.current()
    model = _model(project, model_id)
    todo, already = distributed.main_first(lambda: _photos_to_predict(project, model.id, scope, force))
    summary = PredictSummary(model.id, 0, already)
    if not todo:
        _report(on_progress, PredictProgress(0, 0, 0.0, "Every photo is already predicted."))
        summary.seconds = time.perf_counter() - started
        return summary
    _report(on_progress, PredictProgress(0, len(todo), None, "Loading the model"))
    predictor = Predictor.from_checkpoint(model.file)
    timer = RateTimer(len(todo))  # from here: loading the model is not part of the rate
    cache_dir = project.cache_dir / "features"
    step = CHUNK * ranks.world_size  # a chunk per rank, stored together
    for start in range(0, len(todo), step):
        check_cancel(cancel)
        block = todo[start:start + step]
        chunk = distributed.shard(block, ranks)
        unreadable: dict[int, str] = {}
        size = len(block)

        def relay(event, offset=start, size=size) -> None:
            if isinstance(event, Progress) and event.total:
                done = offset + min(size, event.done * ranks.world_size)  # every rank about as far as this one
                _report(on_progress, PredictProgress(done, len(todo), timer.eta(done), "Predicting"))
            elif isinstance(event, Notice):
                _report(on_progress, PredictProgress(offset, len(todo), None, event.message))

        probabilities = predictor.predict_paths(
            [path for _, path, _ in chunk], content_hashes=[h for _, _, h in chunk], cache_dir=cache_dir,
            on_progress=relay, cancel=cancel, on_error=unreadable.__setitem__)
        rows = [(image_id, content_hash, probabilities[i]) for i, (image_id, _, content_hash) in enumerate(chunk)
                if i not in unreadable]
        failed = [(str(chunk[i][1]), reason) for i, reason in sorted(unreadable.items())]
        for rank_rows, rank_failed in distributed.gather_to_main((rows, failed)) or ():  # rank 0 stores
            summary.predicted += store_predictions(project, model.id, rank_rows)
            summary.unreadable.extend(rank_failed)
        done = start + len(block)
        _report(on_progress, PredictProgress(done, len(todo), timer.eta(done), "Predicting"))
    summary.seconds = time.perf_counter() - started
    _report(on_progress, PredictProgress(len(todo), len(todo), 0.0, "Done"))
    return summary


def _model(project: Project, model_id: int | None) -> ModelInfo:
    if model_id is None:
        model = active_model(project)
        if model is None:
            raise NoModel("There is no trained model yet: train one first (pigeonhole train, or the Train tab).")
        return model
    model = next((m for m in list_models(project) if m.id == model_id), None)
    if model is None:
        raise NoModel(f"There is no model {model_id} in this project.")
    return model


def _in_scope(query, scope: str | int):
    if isinstance(scope, str) and scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES} or a folder id, not {scope!r}")
    if scope == "unlabelled":
        return query.outerjoin(Label, Label.image_id == Image.id).where(Label.class_id.is_(None))
    if not isinstance(scope, str):
        return query.where(Image.folder_id == scope)
    return query


def _photos_to_predict(project: Project, model_id: int, scope: str | int,
                       force: bool) -> tuple[list[tuple[int, Path, str]], int]:
    """(image id, path, content hash) of the photos to predict, and how many in scope are already done."""
    query = _in_scope(with_folder(select(Image.id, IMAGE_PATH, Image.content_hash, Prediction.id))
                      .outerjoin(Prediction, current_prediction(model_id))
                      .where(Image.error.is_(None), Image.missing.is_(False))
                      .order_by(Image.id), scope)
    with project.sessions() as session:
        rows = session.execute(query).all()
    todo = [(image_id, path, content_hash) for image_id, path, content_hash, done in rows
            if force or done is None]
    return todo, len(rows) - len(todo)


def predictions_json(project: Project, model: ModelInfo, scope: str | int = "all") -> list[dict]:
    """The model's current predictions for the photos in ``scope``, as the CLI prints them (absolute paths)."""
    query = _in_scope(with_folder(select(IMAGE_PATH, Prediction.probabilities).select_from(Image))
                      .join(Prediction, current_prediction(model.id))
                      .where(Image.missing.is_(False))
                      .order_by(*BY_PATH), scope)
    with project.sessions() as session:
        rows = session.execute(query).all()
    result = []
    for path, probabilities in rows:
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        result.append({"path": str(path), "predicted": model.class_names[best],
                       "confidence": round(float(probabilities[best]), 6),
                       "probabilities": {name: round(float(p), 6)
                                         for name, p in zip(model.class_names, probabilities, strict=True)}})
    return result


def _report(on_progress, progress: PredictProgress) -> None:
    if on_progress is not None:
        on_progress(progress)
