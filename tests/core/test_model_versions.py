"""Model versions: listing, notes, deleting, and scoring every version the same way on today's photos."""

from __future__ import annotations

import json

import imagemakers
import pytest

from desktop.cli import main
from desktop.core.importer import import_folder
from desktop.core.model_comparison import OUT_OF_FOLD, score_versions
from desktop.core.models_registry import active_model, delete_model, list_models, set_note
from desktop.core.training import train_project
from desktop.ml.options import TrainingOptions

QUICK = TrainingOptions(mode="frozen", epochs=6)


def test_versions_are_scored_by_the_same_folds_over_todays_labelled_photos(trained_project, tmp_path):
    first = active_model(trained_project)
    # More photos arrive, and a new class: the old model has not seen it.
    import_folder(trained_project, imagemakers.write_shape_folders(tmp_path / "more", per_class=5, seed=3),
                  labels_from_subfolders=True)
    import_folder(trained_project, imagemakers.write_shape_folders(tmp_path / "new", per_class=5, seed=4,
                                                                   classes=("rings",)),
                  labels_from_subfolders=True)
    second = train_project(trained_project, TrainingOptions(mode="frozen"))
    scores = {score.model_id: score for score in score_versions(trained_project)}
    assert set(scores) == {first.id, second.model_id}
    new_model, old_model = scores[second.model_id], scores[first.id]
    assert new_model.method == old_model.method == OUT_OF_FOLD
    # Today's labelled photos, the folds training uses: the newest version scores what its training reported.
    assert new_model.scored == second.val_images == 24 + 15 + 5
    assert new_model.accuracy == pytest.approx(second.val_accuracy, abs=0.03)
    assert old_model.unknown_class == new_model.scored - old_model.scored == 5  # the rings photos
    assert old_model.accuracy is not None and old_model.accuracy > 0.5


def test_note_and_delete(trained_project):
    first = active_model(trained_project)
    second = train_project(trained_project, QUICK)
    set_note(trained_project, first.id, "  baseline  ")
    assert next(m for m in list_models(trained_project) if m.id == first.id).note == "baseline"
    second_file = active_model(trained_project).file
    assert delete_model(trained_project, second.model_id) == first.id  # the active one went: the newest left
    assert not second_file.exists() and first.file.exists()
    assert [m.id for m in list_models(trained_project)] == [first.id]
    assert delete_model(trained_project, first.id) is None
    assert active_model(trained_project) is None


def test_a_model_whose_file_is_gone_is_reported_not_fatal(trained_project):
    model = active_model(trained_project)
    model.file.unlink()
    [score] = score_versions(trained_project)
    assert score.accuracy is None and "does not exist" in score.problem


def test_cli_models_json(trained_project, capsys):
    first = active_model(trained_project)
    second = train_project(trained_project, QUICK)
    assert main(["models", str(trained_project.path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["active"] == second.model_id
    assert [m["model_id"] for m in result["models"]] == [first.id, second.model_id]
    assert set(result["models"][0]) == {"model_id", "created", "backbone", "mode", "train_images", "val_accuracy"}
    assert main(["models", str(trained_project.path), "--activate", str(first.id), "--evaluate", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["active"] == first.id
    assert all(0 <= m["current_val_accuracy"] <= 1 for m in result["models"])
    assert main(["models", str(trained_project.path), "--activate", "99"]) == 1
    assert "no model 99" in capsys.readouterr().err
