"""Predicting a project: stored probabilities, skipping what is done, scopes, cancel, broken files, CLI."""

from __future__ import annotations

import json
import threading

import imagemakers
import numpy as np
import pytest
from sqlalchemy import func, select

from desktop.cli import main
from desktop.core.folders import list_folders
from desktop.core.importer import import_folder
from desktop.core.models_registry import active_model
from desktop.core.predicting import CHUNK, NoModel, predict_project
from desktop.core.prediction_store import prediction_for
from desktop.core.suggest import suggest_next
from desktop.db.models import Folder, Image, Prediction
from desktop.errors import Cancelled
from desktop.ml.predict import Predictor


def stored(project) -> int:
    with project.sessions() as session:
        return session.scalar(select(func.count()).select_from(Prediction))


def image_ids(project) -> list[int]:
    with project.sessions() as session:
        return list(session.scalars(select(Image.id).order_by(Image.id)))


def test_predicts_every_photo_and_matches_the_predictor(trained_project):
    summary = predict_project(trained_project)
    assert summary.predicted == 24 and summary.already == 0 and not summary.unreadable
    assert stored(trained_project) == 24
    model = active_model(trained_project)
    predictor = Predictor.from_checkpoint(model.file)
    with trained_project.sessions() as session:
        first = session.scalar(select(Image).order_by(Image.id).limit(1))
        path = trained_project.path.parent / "photos" / first.rel_path
    expected = predictor.predict_paths([path])[0]
    got = prediction_for(trained_project, first.id)
    np.testing.assert_allclose(got.probabilities, expected, atol=1e-4)
    assert got.predicted == model.class_names[int(np.argmax(expected))]
    # The training photos are easy: a working model gets nearly all right.
    right = sum(prediction_for(trained_project, i).predicted in str(p)
                for i, p in zip(image_ids(trained_project), _paths(trained_project), strict=True))
    assert right >= 20


def _paths(project):
    with project.sessions() as session:
        return [rel for rel in session.scalars(select(Image.rel_path).order_by(Image.id))]


def test_second_run_skips_and_a_changed_file_is_predicted_again(trained_project):
    predict_project(trained_project)
    again = predict_project(trained_project)
    assert again.predicted == 0 and again.already == 24
    target = trained_project.path.parent / "photos" / "discs" / "discs_01.jpg"
    imagemakers.write_rgb(target, imagemakers.draw_shape("stripes", np.random.default_rng(1), 80))
    import_folder(trained_project, trained_project.path.parent / "photos")  # notices the new content
    changed = predict_project(trained_project)
    assert changed.predicted == 1 and changed.already == 23
    forced = predict_project(trained_project, force=True)
    assert forced.predicted == 24 and stored(trained_project) == 24  # replaced, not duplicated


def test_scopes_unlabelled_and_folder(trained_project, tmp_path):
    extra = imagemakers.write_shape_folders(tmp_path / "new", per_class=2, seed=5)
    import_folder(trained_project, extra)  # no labels
    unlabelled = predict_project(trained_project, "unlabelled")
    assert unlabelled.predicted == 6 and stored(trained_project) == 6
    folders = {f.name: f.id for f in list_folders(trained_project)}
    assert predict_project(trained_project, folders["photos"]).predicted == 24
    assert predict_project(trained_project).predicted == 0


def test_cancel_keeps_finished_chunks(trained_project, monkeypatch):
    monkeypatch.setattr("desktop.core.predicting.CHUNK", 10)
    cancel = threading.Event()
    seen = []

    def on_progress(progress):
        seen.append(progress.done)
        if progress.done >= 12:
            cancel.set()

    with pytest.raises(Cancelled):
        predict_project(trained_project, on_progress=on_progress, cancel=cancel)
    kept = stored(trained_project)
    assert kept in (10, 20)  # whole chunks only: never a half-written one
    rest = predict_project(trained_project)
    assert rest.already == kept and rest.predicted == 24 - kept
    assert CHUNK >= 256


def test_broken_file_is_reported_not_fatal(trained_project, tmp_path):
    extra = imagemakers.write_shape_folders(tmp_path / "new", per_class=2, seed=8)
    import_folder(trained_project, extra)
    victim = extra / "checks" / "checks_01.jpg"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])  # truncated after the import: the index still says readable
    summary = predict_project(trained_project, "unlabelled")
    assert summary.predicted == 5
    assert [p for p, _ in summary.unreadable] == [str(victim)]
    with trained_project.sessions() as session:
        new_photos = session.execute(select(Image.rel_path, Image.id).join(Folder)
                                     .where(Folder.root == str(extra))).all()
    readable = [i for path, i in new_photos if path != "checks/checks_01.jpg"]
    assert len(readable) == 5
    assert readable and all(prediction_for(trained_project, i) is not None for i in readable)


def test_no_model_is_a_clear_error(project, photo_folder):
    import_folder(project, photo_folder({"a": 2}))
    with pytest.raises(NoModel, match="no trained model yet"):
        predict_project(project)


def test_cli_predict_json_shape(trained_project, capsys):
    assert main(["predict", str(trained_project.path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_id"] == active_model(trained_project).id and result["predicted"] == 24
    assert len(result["images"]) == 24
    image = result["images"][0]
    assert set(image) == {"path", "predicted", "confidence", "probabilities"}
    assert image["path"].startswith("/") and image["predicted"] in image["probabilities"]
    assert image["confidence"] == max(image["probabilities"].values())
    assert sum(image["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert main(["predict", str(trained_project.path), "--folder",
                 str(trained_project.path.parent / "photos" / "discs"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["predicted"] == 0 and len(again["images"]) == 24  # the folder is the project folder `photos`


def test_suggest_orders_unlabelled_photos_by_margin(trained_project, tmp_path, capsys):
    import_folder(trained_project, imagemakers.write_shape_folders(tmp_path / "new", per_class=3, seed=6))
    assert main(["suggest", str(trained_project.path), "--n", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_id"] == active_model(trained_project).id
    margins = [image["margin"] for image in result["images"]]
    assert len(margins) == 5 and margins == sorted(margins)
    assert all(set(i) == {"path", "predicted", "confidence", "margin"} for i in result["images"])
    _, everything = suggest_next(trained_project)
    assert len(everything) == 9  # only the unlabelled ones
    assert [str(s.path) for s in everything[:5]] == [i["path"] for i in result["images"]]
    _, by_entropy = suggest_next(trained_project, by="entropy")
    entropies = [s.entropy for s in by_entropy]
    assert entropies == sorted(entropies, reverse=True)
