"""A run's TrainingRecord is stored whole in its checkpoint and read back the same, in the CPU build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop.core.self_test import CLASSES
from desktop.ml.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint, validate_checkpoint
from desktop.ml.options import TrainingOptions
from desktop.ml.train_job import train
from desktop.ml.train_record import TrainingRecord, TrainItem


def test_the_record_of_a_cpu_build_run_survives_its_model_file(cpu_build: Path, tmp_path: Path,
        picture_items: list[TrainItem]):
    result = train(TrainingOptions(), picture_items, CLASSES, tmp_path / "cache")
    record = result.record
    assert record.evaluation == "out-of-fold" and record.device == "cpu" and record.requested_mode == "auto"
    assert record.train_count == 12 and record.folds is not None and record.history
    stored = load_checkpoint(checkpoint_bytes(result.checkpoint))["training"]
    assert TrainingRecord.from_dict(stored) == record
    assert result.duration_seconds == record.duration_seconds and result.history == list(record.history)


def test_a_damaged_training_field_is_no_record():
    assert TrainingRecord.from_dict(None) is None
    assert TrainingRecord.from_dict({"device": "cpu"}) is None
    assert TrainingRecord.from_dict({"device": "cpu", "duration_seconds": "soon", "train_count": 1,
                                     "val_count": 1}) is None


def test_the_calibration_fields_a_sort_reads_are_checked(cpu_build: Path, tmp_path: Path,
        picture_items: list[TrainItem]):
    checkpoint = train(TrainingOptions(), picture_items, CLASSES, tmp_path / "cache").checkpoint
    validate_checkpoint(checkpoint)
    held_out = checkpoint["out_of_fold"]
    for damaged, says in (
            ({"temperature": 0.0}, "“temperature” must be a positive number"),
            ({"temperature": float("nan")}, "“temperature” must be a positive number"),
            ({"precision_thresholds": {"0.95": [0.9]}}, "not one number per class"),
            ({"precision_thresholds": {"0.95": [0.9, "high"]}}, "not one number per class"),
            ({"out_of_fold": {**held_out, "probabilities": held_out["probabilities"][:, :1]}}, "do not match"),
            ({"out_of_fold": {**held_out, "labels": np.zeros((2, 2), np.int64)}}, "do not match"),
            ({"calibration": [1.0]}, "“calibration” has the wrong type")):
        with pytest.raises(CheckpointError, match=says):
            validate_checkpoint({**checkpoint, **damaged})
