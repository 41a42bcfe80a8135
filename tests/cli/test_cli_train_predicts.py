"""`pigeonhole train` does what the app's Train does: the new model, then its predictions for every photo (the
core workflow desktop.core.new_model), unless --no-predict."""

from __future__ import annotations

import json

from cli_helpers import terminal_on_stderr

from desktop.cli import main
from desktop.core.browse import ImageFilter, list_images
from desktop.core.models_registry import active_model
from desktop.core.prediction_store import prediction_for


def _photos_without_a_prediction(project) -> int:
    """Photos the active model has not predicted (on their current content)."""
    return sum(prediction_for(project, row.id) is None for row in list_images(project, ImageFilter()))


def test_train_predicts_every_photo_with_the_new_model(trained_project, capsys, monkeypatch) -> None:
    path = str(trained_project.path)
    assert _photos_without_a_prediction(trained_project) == 24  # the fixture's model predicted nothing yet
    terminal_stderr = terminal_on_stderr(monkeypatch)
    assert main(["train", path, "--mode", "frozen", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    model = active_model(trained_project)
    assert out.splitlines()[0].startswith(f"Model {model.id} is now active")
    assert out.splitlines()[-1].startswith("Predicted 24 photos with it in ")
    assert "Predicting every photo" in terminal_stderr.getvalue() and "100% 24/24 photos" in terminal_stderr.getvalue()
    assert _photos_without_a_prediction(trained_project) == 0

    assert main(["predict", path, "--json"]) == 0  # nothing left for `predict` to do
    assert json.loads(capsys.readouterr().out)["predicted"] == 0


def test_train_json_reports_the_predictions_and_no_predict_skips_them(trained_project, capsys) -> None:
    path = str(trained_project.path)
    assert main(["train", path, "--mode", "frozen", "--epochs", "2", "--no-predict", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["predictions"] is None
    assert _photos_without_a_prediction(trained_project) == 24

    assert main(["train", path, "--mode", "frozen", "--epochs", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_id"] == active_model(trained_project).id
    assert result["predictions"]["predicted"] == 24 and result["predictions"]["already"] == 0
    assert result["predictions"]["unreadable"] == []
    assert _photos_without_a_prediction(trained_project) == 0


def test_a_failed_prediction_step_does_not_read_as_a_lost_training(trained_project, capsys, monkeypatch) -> None:
    """A full disk while predicting: the training's report, then one error line that says the model is active."""
    from cli_helpers import assert_one_error_line

    import desktop.core.new_model as new_model

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device", str(trained_project.path / "project.db"))

    monkeypatch.setattr(new_model, "predict_with_new_model", disk_full)
    before = active_model(trained_project).id
    assert main(["train", str(trained_project.path), "--mode", "frozen", "--epochs", "2"]) == 1
    out, err = capsys.readouterr()
    model = active_model(trained_project)
    assert model.id != before
    assert out.startswith(f"Model {model.id} is now active")
    notes, error = err.strip().splitlines()[:-1], err.strip().splitlines()[-1]
    assert all(line.startswith("note: ") for line in notes)
    assert_one_error_line(error)
    assert (f"Model {model.id} is trained and active, but predicting the photos with it failed. No space left on "
            "device: ") in err and "tries again." in err


def test_a_bug_in_the_prediction_step_keeps_its_traceback(trained_project, monkeypatch) -> None:
    import pytest

    import desktop.core.new_model as new_model

    def bug(*_args, **_kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(new_model, "predict_with_new_model", bug)
    with pytest.raises(ZeroDivisionError):
        main(["train", str(trained_project.path), "--mode", "frozen", "--epochs", "2"])


def test_train_predicts_with_its_own_model_when_another_became_active_meanwhile(trained_project, capsys,
                                                                                monkeypatch) -> None:
    """Two `train` runs at once: each predicts with the model it trained, not with whichever is active by then."""
    import desktop.core.new_model as new_model
    from desktop.core.models_registry import set_active

    earlier = active_model(trained_project).id
    train = new_model.train_project

    def train_then_another_activates(project, options, **kwargs):
        summary = train(project, options, **kwargs)
        set_active(project, earlier)  # what the other process's training did in the meantime
        return summary

    monkeypatch.setattr(new_model, "train_project", train_then_another_activates)
    assert main(["train", str(trained_project.path), "--mode", "frozen", "--epochs", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_id"] != earlier and result["predictions"]["predicted"] == 24
    assert all(prediction_for(trained_project, row.id, result["model_id"]) is not None
               for row in list_images(trained_project, ImageFilter()))
    assert _photos_without_a_prediction(trained_project) == 24  # the active (earlier) model predicted nothing
