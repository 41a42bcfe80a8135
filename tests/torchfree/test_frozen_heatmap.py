"""The heatmap of a frozen model in the CPU build (torch unimportable): from the shipped backbone's map and the
head (ml/frozen_cam), through the app's own path (core/explain), on a model the CPU build trained. That it equals
torch's Grad-CAM is tested where torch is: tests/ml/test_frozen_cam.py, tests/core/test_gradcam.py."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop.cli import main
from desktop.core.explain import explain_photo
from desktop.core.models_registry import active_model
from desktop.core.project import open_project
from desktop.core.self_test import write_pictures


def test_the_cpu_build_shows_where_a_frozen_model_sees_its_class(cpu_build: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]):
    project_file = tmp_path / "photos.pigeonhole"
    assert main(["import", str(project_file), str(write_pictures(tmp_path / "labelled", per_class=8)),
                 "--labels-from-subfolders"]) == 0
    assert main(["train", str(project_file)]) == 0, capsys.readouterr()
    with open_project(project_file, create=False) as project:
        model_file = active_model(project).file
    # A wide photo, 300 × 150: a disc on the left, stripes on the right.
    rng = np.random.default_rng(0)
    rgb = np.clip(235 + rng.normal(0, 6, (150, 300, 3)), 0, 255).astype(np.uint8)
    cv2.circle(rgb, (70, 75), 40, (40, 40, 200), -1, cv2.LINE_AA)
    rgb[:, 170:][:, (np.arange(170, 300) // 8) % 2 == 0] = (30, 160, 60)
    photo = tmp_path / "both.png"
    cv2.imwrite(str(photo), rgb[..., ::-1])

    explained = explain_photo(photo, model_file)
    heatmap = explained.heatmap
    assert heatmap.values.shape == (150, 300) and explained.overlay.shape == (150, 300, 4)
    assert heatmap.values.min() >= 0 and heatmap.values.max() == pytest.approx(1.0, abs=0.05)
    assert explained.class_name == "discs"
    assert heatmap.values[:, :150].sum() / heatmap.values.sum() > 0.7  # the heat lies on the disc (measured 0.98)
    again = explain_photo(photo, model_file, explained.model)  # the loaded model is reused
    assert again.model is explained.model and np.array_equal(again.heatmap.values, heatmap.values)
    assert sys.modules.get("torch") is None
