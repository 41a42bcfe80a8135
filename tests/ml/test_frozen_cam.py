"""A frozen model's heatmap without gradients (ml/frozen_cam, from the backbone's ONNX file) is torch's Grad-CAM.

Real photos (scikit-image's), the photos' whole views (not square, as the app explains them), the backbones' own
ImageNet classifiers as heads (real class evidence, not noise), the photo's top ImageNet class and a runner-up.
Tolerance: ``CAM_TOLERANCE`` on heatmaps normalised to [0, 1] (measured: 3e-6, float32 rounding between
the engines; the slope of ReLU6 at exactly 0 or 6 is the only other difference, and no photo hits it).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skimage import data

from desktop.ml.backbones import build_feature_extractor, get_backbone, load_pretrained, pretrained_weights
from desktop.ml.frozen_cam import class_activation
from desktop.ml.gradcam import _class_activation
from desktop.ml.model import Classifier, LinearHead
from desktop.ml.onnx_engine import MAP_NAME, MAP_SLOPE_NAME, OnnxExtractor, export_extractor, load_onnx_extractor
from desktop.ml.preprocess import whole_view_array

CAM_TOLERANCE = 1e-4


def _imagenet_head(spec) -> tuple[np.ndarray, np.ndarray]:
    """The ImageNet classifier of ``spec`` (each member's side by side for a feature set): W (1000, D), b."""
    members = [get_backbone(name) for name in spec.members] or [spec]
    weights, biases = [], []
    for member in members:
        network = member.build()
        load_pretrained(member, network, pretrained_weights(member.name).path)
        classifier = network.get_submodule(member.classifier)
        weights.append(classifier.weight.detach().numpy())
        biases.append(classifier.bias.detach().numpy())
    return np.concatenate(weights, axis=1), np.sum(biases, axis=0)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite0_lite1"])
def test_the_frozen_heatmap_from_onnx_is_torch_grad_cam_on_real_photos(name: str):
    spec = get_backbone(name)
    weights = pretrained_weights(name)
    extractor, dim = build_feature_extractor(spec, weights.path)
    session = load_onnx_extractor(spec, weights.identity, extractor)
    assert session is not None and session.has_map
    weight, bias = _imagenet_head(spec)
    head = LinearHead(dim, len(weight))
    head.linear.weight.data, head.linear.bias.data = torch.from_numpy(weight), torch.from_numpy(bias)
    classifier = Classifier(spec, extractor, head).eval()
    torch_side = SimpleNamespace(model=classifier, spec=spec, device="cpu")
    worst = 0.0
    for rgb in (data.astronaut(), data.chelsea(), data.coffee()[:, :500], data.rocket()):
        view = whole_view_array(rgb, spec)
        features, feature_map, slope = session.outputs(["features", MAP_NAME, MAP_SLOPE_NAME], view[None])
        assert feature_map.shape[1] == 1280 and feature_map.shape[2:] != (7, 7)
        for index in np.argsort(features[0] @ weight.T + bias)[-2:]:
            expected = _class_activation(torch_side, torch.from_numpy(view), int(index))
            cam = class_activation(weight[index], feature_map[0], slope[0])
            assert cam.shape == expected.shape and cam.max() == pytest.approx(1.0)
            worst = max(worst, float(np.abs(cam - expected).max()))
    assert worst < CAM_TOLERANCE


def test_a_backbone_without_an_activation_before_its_pool_gets_the_same_heatmap_as_torchs(tmp_path):
    """ResNet-18 (random weights: torchvision's are not on a test machine; a random head): the map is pooled as it
    is (slope 1 everywhere), and the heatmap is still torch's Grad-CAM. MobileNetV3's features are more than a
    pooled map (a layer after the pool), so its file has no map and torch explains it."""
    spec = get_backbone("mobilenet_v3_large")
    extractor = build_feature_extractor(spec, None)[0].eval()
    assert not OnnxExtractor(tmp_path / "mobilenet.onnx", export_extractor(extractor, spec)).has_map
    spec = get_backbone("resnet18")
    extractor, dim = build_feature_extractor(spec, None)
    session = OnnxExtractor(tmp_path / "resnet18.onnx", export_extractor(extractor.eval(), spec))
    assert session.has_map
    weight = np.random.default_rng(0).normal(0, 0.05, (3, dim)).astype(np.float32)
    head = LinearHead(dim, 3)
    head.linear.weight.data = torch.from_numpy(weight)
    torch_side = SimpleNamespace(model=Classifier(spec, extractor, head).eval(), spec=spec, device="cpu")
    view = whole_view_array(data.chelsea(), spec)
    feature_map, slope = session.outputs([MAP_NAME, MAP_SLOPE_NAME], view[None])
    assert (slope == 1).all()
    for index in range(3):
        expected = _class_activation(torch_side, torch.from_numpy(view), index)
        assert np.abs(class_activation(weight[index], feature_map[0], slope[0]) - expected).max() < CAM_TOLERANCE
