"""A model that computes NaN or infinity: one sentence, said once, and nothing of it stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from desktop.cli import main
from desktop.core.models_registry import active_model
from desktop.core.predicting import predict_project
from desktop.db.models import Prediction
from desktop.ml.checkpoint import load_checkpoint, save_checkpoint
from desktop.ml.predict import NonFiniteScores


@pytest.fixture
def nan_model_project(trained_project):
    """The trained project whose active model's head has one NaN weight: every score it gives is NaN."""
    model = active_model(trained_project)
    checkpoint = load_checkpoint(model.file)
    checkpoint["state_dict"]["head.linear.weight"][0, 0] = float("nan")
    save_checkpoint(model.file, checkpoint)
    return trained_project


def _stored(project) -> int:
    with project.sessions() as session:
        return session.scalar(select(func.count()).select_from(Prediction))


def test_predicting_a_project_with_a_nan_model_stores_nothing(nan_model_project) -> None:
    with pytest.raises(NonFiniteScores, match=r"^The model produced non-finite scores \(NaN or infinity\) for 24 "):
        predict_project(nan_model_project)
    assert _stored(nan_model_project) == 0


def test_the_cli_says_it_in_one_sentence(nan_model_project, capsys) -> None:
    assert main(["predict", str(nan_model_project.path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pigeonhole: error: The model produced non-finite scores")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert _stored(nan_model_project) == 0
