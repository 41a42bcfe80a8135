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
    x, y, w, h = discs.crop
    # The centre square the model sees: 224 of the 256 px the shorter side is resized to.
    assert (x, y, w, h) == (72, 8, 112, 112)
    assert discs.values[:, :x].max() == 0 and discs.values[:, x + w:].max() == 0 and discs.values[:y].max() == 0

    def left_share(heatmap) -> float:
        seen = heatmap.values[:, x:x + w]
        return float(seen[:, : w // 2].sum() / seen.sum())

    assert left_share(discs) > 0.7 > 0.3 > left_share(stripes)
    rgba = overlay_rgba(discs)
    assert rgba.shape == (128, 256, 4) and rgba[..., 3].max() > 0


def test_default_class_is_the_predicted_one(trained_project):
    predictor = Predictor.from_checkpoint(active_model(trained_project).file)
    rgb = np.full((80, 80, 3), 120, np.uint8)
    heatmap = grad_cam(predictor, rgb)
    probabilities = predictor.predict_array(rgb)
    assert heatmap.class_index == int(np.argmax(probabilities))
    assert abs(heatmap.probability - float(probabilities.max())) < 1e-3
