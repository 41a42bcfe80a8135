"""Model files in the CPU build: a frozen model from either build opens; a fine-tuned one says in one sentence
that it needs the full build."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from desktop.core.self_test import CLASSES
from desktop.ml.builds import FullBuildRequired, torch_installed
from desktop.ml.checkpoint import checkpoint_bytes
from desktop.ml.options import TrainingOptions
from desktop.ml.predict import HeadPredictor, Predictor
from desktop.ml.train_job import train
from desktop.ml.train_record import TrainItem


@pytest.fixture
def frozen_checkpoint(cpu_build: Path, tmp_path: Path, picture_items: list[TrainItem]) -> dict:
    return train(TrainingOptions(), picture_items, CLASSES, tmp_path / "cache").checkpoint


def test_a_frozen_model_opens_from_its_file_and_predicts(frozen_checkpoint: dict, tmp_path: Path):
    predictor = Predictor.from_checkpoint(checkpoint_bytes(frozen_checkpoint))
    assert isinstance(predictor, HeadPredictor) and predictor.class_names == list(CLASSES)
    photo = np.full((64, 80, 3), 128, np.uint8)
    probabilities = predictor.predict_array(photo)
    assert probabilities.shape == (2,) and abs(float(probabilities.sum()) - 1) < 1e-5


def test_a_fine_tuned_model_needs_the_full_build(frozen_checkpoint: dict):
    backbone = {"backbone.stem.weight": np.zeros((4, 3, 3, 3), np.float32)}  # its own backbone weights
    tuned = {**frozen_checkpoint, "mode": "finetune", "feature_key": None,
             "state_dict": {**frozen_checkpoint["state_dict"], **backbone}}
    with pytest.raises(FullBuildRequired) as raised:
        Predictor.from_checkpoint(checkpoint_bytes(tuned))
    assert str(raised.value).startswith("This model was fine-tuned, and using it needs the full build")


def test_a_model_trained_by_the_full_build_opens_in_the_cpu_build(use_shipped: Path, tmp_path: Path,
                                                                   picture_items: list[TrainItem],
                                                                   monkeypatch: pytest.MonkeyPatch):
    if not torch_installed():
        pytest.skip("the full build is needed to train the model (the usual test run does)")
    full = train(TrainingOptions(), picture_items, CLASSES, tmp_path / "cache").checkpoint  # the trainer, with torch
    model_file = checkpoint_bytes(full)
    photo = np.random.default_rng(3).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    in_full_build = Predictor.from_checkpoint(model_file, device="cpu").predict_array(photo)
    for name in ("torch", "torchvision"):
        monkeypatch.setitem(sys.modules, name, None)
    in_cpu_build = Predictor.from_checkpoint(model_file).predict_array(photo)
    np.testing.assert_allclose(in_cpu_build, in_full_build, atol=1e-6)
