"""Grad-CAM: the heatmap lies where the evidence for the class is, in the photo's own coordinates."""

from __future__ import annotations

import cv2
import numpy as np

from desktop.core.models_registry import active_model
from desktop.ml.gradcam import grad_cam, overlay_rgba
from desktop.ml.predict import Predictor


def test_heatmap_points_at_the_disc_for_discs_and_at_the_stripes_for_stripes(trained_project):
    predictor = Predictor.from_checkpoint(active_model(trained_project).file)
    rng = np.random.default_rng(0)
    # A wide noisy photo, 256 × 128: a disc on the left, stripes on the right.
    rgb = np.clip(130 + rng.normal(0, 10, (128, 256, 3)), 0, 255).astype(np.uint8)
    cv2.circle(rgb, (70, 64), 34, (200, 40, 40), -1, cv2.LINE_AA)
    rgb[:, 140:][:, (np.arange(140, 256) // 6) % 2 == 0] = (30, 160, 60)
    discs = grad_cam(predictor, rgb, predictor.class_names.index("discs"))
    stripes = grad_cam(predictor, rgb, predictor.class_names.index("stripes"))
    assert discs.values.shape == (128, 256) and discs.class_index == predictor.class_names.index("discs")
    # The centre square the prediction sees: 224 of the 256 px the shorter side is resized to.
    assert discs.crop == (72, 8, 112, 112)

    def left_share(heatmap) -> float:
        return float(heatmap.values[:, :128].sum() / heatmap.values.sum())

    assert left_share(discs) > 0.7 > 0.3 > left_share(stripes)


def test_the_heatmap_covers_the_whole_photo_not_just_the_centre_crop(trained_project):
    """It used to end in a hard rectangle: nothing outside the centre crop, though the disc lay there."""
    predictor = Predictor.from_checkpoint(active_model(trained_project).file)
    rng = np.random.default_rng(1)
    rgb = np.clip(130 + rng.normal(0, 10, (128, 256, 3)), 0, 255).astype(np.uint8)
    cv2.circle(rgb, (36, 64), 30, (200, 40, 40), -1, cv2.LINE_AA)  # mostly left of the crop (x from 72)
    discs = grad_cam(predictor, rgb, predictor.class_names.index("discs"))
    x = discs.crop[0]
    assert discs.values[:, :x].max() > 0.5  # the disc outside the crop is where the heat is
    assert overlay_rgba(discs)[:, :x, 3].max() > 0
    # No step anywhere: neighbouring columns differ little (a crop's edge jumped from heat to nothing).
    assert np.abs(np.diff(discs.values, axis=1)).max() < 0.2


def test_a_panorama_is_explained_over_its_centre_and_fades_out_beyond(trained_project):
    predictor = Predictor.from_checkpoint(active_model(trained_project).file)
    rgb = np.clip(130 + np.random.default_rng(2).normal(0, 10, (60, 400, 3)), 0, 255).astype(np.uint8)
    for centre in range(20, 400, 60):
        cv2.circle(rgb, (centre, 30), 18, (200, 40, 40), -1, cv2.LINE_AA)
    heatmap = grad_cam(predictor, rgb, predictor.class_names.index("discs"))
    assert heatmap.values.shape == (60, 400)
    assert heatmap.values[:, 0].max() == heatmap.values[:, -1].max() == 0  # 15 px past the 180 px explained
    assert np.abs(np.diff(heatmap.values, axis=1)).max() < 0.2


def test_default_class_is_the_predicted_one(trained_project):
    predictor = Predictor.from_checkpoint(active_model(trained_project).file)
    rgb = np.full((80, 80, 3), 120, np.uint8)
    heatmap = grad_cam(predictor, rgb)
    probabilities = predictor.predict_array(rgb)
    assert heatmap.class_index == int(np.argmax(probabilities))
    assert abs(heatmap.probability - float(probabilities.max())) < 1e-3



def test_a_frozen_models_heatmap_needs_no_gradients_and_is_torchs_grad_cam(trained_project, monkeypatch):
    """A frozen model is explained from the backbone's ONNX map and its head (ml/frozen_cam, both builds); torch's
    Grad-CAM of the same model, forced here, gives the same heatmap on real photos (tolerance: 1e-4 of the peak)."""
    from skimage import data

    from desktop.ml import gradcam
    from desktop.ml.predict import HeadPredictor

    predictor = Predictor.from_checkpoint(active_model(trained_project).file)
    assert isinstance(predictor, HeadPredictor)
    torch_runs = []
    torch_grad_cam = gradcam._class_activation
    monkeypatch.setattr(gradcam, "_class_activation", lambda *args: torch_runs.append(1) or torch_grad_cam(*args))
    photos = (data.chelsea(), data.rocket())
    by_onnx = [grad_cam(predictor, rgb) for rgb in photos]
    assert not torch_runs
    monkeypatch.setattr(gradcam, "frozen_class_activation", lambda *args: None)
    by_torch = [grad_cam(predictor, rgb, heatmap.class_index) for rgb, heatmap in zip(photos, by_onnx, strict=True)]
    assert len(torch_runs) == 2
    for onnx_heatmap, torch_heatmap in zip(by_onnx, by_torch, strict=True):
        assert onnx_heatmap.values.shape == torch_heatmap.values.shape
        assert onnx_heatmap.values.max() > 0.5
        assert np.abs(onnx_heatmap.values - torch_heatmap.values).max() < 1e-4
