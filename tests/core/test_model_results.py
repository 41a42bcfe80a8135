"""A model's results read back from its models row (no torch, no model file) agree with what training reported."""

from __future__ import annotations

from dataclasses import replace

import pytest

from desktop.core.model_results import backbone_name, describe_model, summary_of
from desktop.core.models_registry import active_model
from desktop.core.training import train_project
from desktop.ml.options import TrainingOptions


def test_the_stored_results_are_the_ones_training_reported(trained_project):
    summary = train_project(trained_project, TrainingOptions(mode="frozen", epochs=8))
    model = active_model(trained_project)
    model.file.unlink()  # reading the results needs the row alone
    stored = summary_of(model)
    assert stored.not_recorded == []
    assert stored.model_id == summary.model_id and stored.val_accuracy == summary.val_accuracy
    assert stored.confusion == summary.confusion and stored.per_class == summary.per_class
    assert stored.confusion_images == summary.confusion_images
    assert stored.reliability == summary.reliability and stored.ece == summary.ece
    assert stored.evaluation == "out-of-fold" and stored.folds == summary.folds
    assert [p.epoch for p in stored.history] == [p.epoch for p in summary.history]
    assert [p.train_loss for p in stored.history] == pytest.approx([p.train_loss for p in summary.history], rel=1e-5)
    assert stored.notes == summary.notes
    assert stored.calibration == summary.calibration and "kept" in stored.calibration
    # Each photo of a cell carries the held-out prediction that put it there, with its confidence.
    assert stored.held_out.keys() == summary.held_out.keys()
    for image_id, held in summary.held_out.items():
        assert stored.held_out[image_id].predicted_index == held.predicted_index
        assert stored.held_out[image_id].confidence == pytest.approx(held.confidence, abs=1e-4)
    for (true, predicted), ids in stored.confusion_images.items():
        for image_id in ids:
            held = stored.held_out[image_id]
            assert (held.true_index, held.predicted_index) == (true, predicted)
            assert held.confidence is not None and 1 / 3 <= held.confidence <= 1


def test_an_older_row_shows_what_it_has_and_names_the_rest(trained_project):
    model = active_model(trained_project)
    older = {key: value for key, value in model.metrics.items() if key not in ("curves", "held_out", "notes")}
    stored = summary_of(replace(model, metrics=older))
    assert stored.confusion == model.metrics["confusion"] and len(stored.per_class) == 3
    assert stored.history == [] and stored.confusion_images == {}
    assert stored.not_recorded == ["the training curves", "which photos are in each cell of the confusion matrix"]


def test_a_damaged_held_out_record_puts_no_photo_in_a_wrong_cell(trained_project):
    model = active_model(trained_project)
    damaged = dict(model.metrics, held_out={"ids": [1, 2], "true": [0], "predicted": [0, 1], "confidence": []})
    assert summary_of(replace(model, metrics=damaged)).confusion_images == {}


def test_every_backbone_has_a_plain_name():
    from desktop.ml.backbones import available_backbones

    for spec in available_backbones():
        assert backbone_name(spec.name) != spec.name
    assert describe_model("efficientnet_lite0", "frozen", "cpu") == \
        "Fast (EfficientNet-Lite0), frozen features, on the CPU"
