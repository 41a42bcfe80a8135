"""Choosing features by their plain names ("fast", "accurate") when training a project."""

from __future__ import annotations

from desktop.core.models_registry import active_model
from desktop.core.training import train_project
from desktop.ml.options import TrainingOptions


def test_a_plain_feature_name_trains_and_records_the_registry_name(trained_project) -> None:
    before = active_model(trained_project)
    summary = train_project(trained_project, TrainingOptions(backbone="Fast", mode="frozen", epochs=3))
    after = active_model(trained_project)
    assert summary.backbone == after.backbone == before.backbone == "efficientnet_lite0"
    assert after.id != before.id
