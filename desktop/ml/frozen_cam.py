"""Grad-CAM of a frozen model without torch: from the backbone's ONNX file and the linear head, no gradients.

A frozen model's class score is a linear head on the spatial mean of a map: score_c = Σ_k W[c, k] · mean_xy f(B_k)
+ b_c, where B is the last block's map (the one torch's Grad-CAM hooks) and f the activation between it and the
pool (ReLU6 for EfficientNet-Lite, none for most backbones). Grad-CAM's gradient is then known in closed form:
∂score_c / ∂B_k(x, y) = W[c, k] · f'(B_k(x, y)) / (h · w), so its channel weights are W[c, k] times the share of
positions where f passes B on (``MAP_SLOPE_NAME``, computed in the graph), and the heatmap is
ReLU(Σ_k weight_k · B_k) normalised — Grad-CAM's result, with no torch (tests/ml/test_frozen_cam.py compares them).

A feature set explains its last member, as torch's Grad-CAM does (its hooks take the last block's map): that
member's columns of W, the last ones. The backbone's ONNX file gives the map (``onnx_engine.MAP_NAME``, any image
size); a file without it (a backbone whose features are more than a pooled map) leaves the heatmap to torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from desktop.errors import PigeonholeError
from desktop.ml.builds import torch_installed

if TYPE_CHECKING:
    from desktop.ml.onnx_engine import OnnxExtractor
    from desktop.ml.predict import HeadPredictor


class HeatmapUnavailable(PigeonholeError):
    """This installation cannot compute the heatmap of this model; ``str(error)`` says why in one sentence."""


def frozen_class_activation(predictor: HeadPredictor, image: np.ndarray, index: int) -> np.ndarray | None:
    """Grad-CAM of class ``index`` for one preprocessed image (3, H, W) float32: (h, w) float32 in [0, 1]. None in
    the full build where ONNX Runtime has no map of this backbone (torch's Grad-CAM computes it then)."""
    from desktop.ml.onnx_engine import MAP_NAME, MAP_SLOPE_NAME

    extractor = _map_extractor(predictor)
    if extractor is None or not extractor.has_map:
        if torch_installed():
            return None
        raise HeatmapUnavailable(f"The heatmap of a model on {predictor.spec.display_name} cannot be shown by "
                                 "this installation of Pigeonhole: reinstall it.")
    feature_map, slope = extractor.outputs([MAP_NAME, MAP_SLOPE_NAME], image[None])
    return class_activation(predictor.weight[index], feature_map[0], slope[0])


def class_activation(weight_row: np.ndarray, feature_map: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """ReLU(Σ_k W[c, k] · slope_k · B_k), normalised to a maximum of 1: (h, w) float32. ``weight_row`` holds the
    head's weights of the class (D,), ``feature_map`` B (K, h, w) for its last K features, ``slope`` (K,)."""
    channels = feature_map.shape[0]
    weights = np.asarray(weight_row[-channels:], np.float64) * slope  # Grad-CAM's, up to the factor 1 / (h · w)
    cam = np.maximum(np.tensordot(weights, feature_map.astype(np.float64), 1), 0.0)
    peak = cam.max()
    return (cam / peak if peak > 0 else cam).astype(np.float32)


def _map_extractor(predictor: HeadPredictor) -> OnnxExtractor | None:
    """The backbone's ONNX session (shipped or exported): required without torch, best effort with it."""
    from desktop.ml.onnx_engine import load_onnx_extractor, require_onnx_extractor

    spec, identity = predictor.spec, predictor.pretrained_identity
    if predictor.torch_extractor is None:
        return require_onnx_extractor(spec, identity)
    return load_onnx_extractor(spec, identity, predictor.torch_extractor)
