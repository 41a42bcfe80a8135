"""Feature sets: a head on the concatenated features of several backbones ("Accurate": Lite0 + Lite1)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import ImageSet

from desktop.ml import backbones
from desktop.ml.backbones import (
    ACCURATE_FEATURE_SET,
    DEFAULT_BACKBONE,
    build_feature_extractor,
    get_backbone,
    require_weights,
    weights_identity,
)
from desktop.ml.checkpoint import save_checkpoint
from desktop.ml.features import extract_features, feature_key
from desktop.ml.onnx_engine import FEATURE_TOLERANCE
from desktop.ml.predict import Predictor

SET = get_backbone(ACCURATE_FEATURE_SET)


@pytest.fixture(scope="module")
def accurate_run(small_image_set: ImageSet, tmp_path_factory: pytest.TempPathFactory):
    from desktop.ml.options import TrainingOptions
    from desktop.ml.trainer import train

    return train(TrainingOptions(backbone="accurate", mode="frozen", epochs=10), small_image_set.items(),
                 small_image_set.class_names, tmp_path_factory.mktemp("features"))


def test_plain_names_choose_the_fast_and_accurate_features() -> None:
    assert get_backbone("fast").name == DEFAULT_BACKBONE and get_backbone("Accurate").name == ACCURATE_FEATURE_SET
    assert SET.members == ("efficientnet_lite0", "efficientnet_lite1") and SET.feature_dim == 2560
    assert SET.display_name.startswith("Accurate") and get_backbone("fast").display_name.startswith("Fast")
    assert backbones.available_backbones()[1].name == ACCURATE_FEATURE_SET, "offered right after the default"


def test_the_sets_features_are_its_members_features_side_by_side(small_image_set: ImageSet) -> None:
    paths = small_image_set.paths[::4]
    manifest = require_weights(SET.name)
    network, dimension = build_feature_extractor(SET, manifest)
    assert dimension == 2560
    together = extract_features(network, SET, paths, None, weights_identity=weights_identity(manifest))
    parts = []
    for name in SET.members:
        # Each member on the set's crop (Lite1's 240 px): one decode and one crop serve both.
        member = dataclasses.replace(get_backbone(name), input_size=SET.input_size, resize_size=SET.resize_size)
        extractor = build_feature_extractor(member, require_weights(name))[0]
        parts.append(extract_features(extractor, member, paths, None).features)  # torch
    np.testing.assert_allclose(together.features, np.concatenate(parts, axis=-1), atol=FEATURE_TOLERANCE)


def test_a_member_with_other_weights_gives_the_set_another_feature_key(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    manifest = require_weights(SET.name)
    before, old_content = weights_identity(manifest), manifest.read_text()
    real = backbones.weights_identity
    monkeypatch.setattr(backbones, "weights_identity",
                        lambda path: "blake2b:other" if "lite1" in path.name.lower() else real(path))
    after = real(require_weights(SET.name))  # the manifest is rewritten with the member's new digest
    assert after != before and feature_key(SET, after) != feature_key(SET, before)
    old = tmp_path / "old-manifest.json"
    old.write_text(old_content)
    with pytest.raises(backbones.WeightsError, match="changed"):  # a set built from the old manifest is refused
        build_feature_extractor(SET, old)


def test_frozen_training_on_a_feature_set_and_predicting_with_it(accurate_run, small_image_set: ImageSet,
                                                                 tmp_path: Path) -> None:
    checkpoint = accurate_run.checkpoint
    assert checkpoint["backbone"] == ACCURATE_FEATURE_SET and checkpoint["head"]["in_features"] == 2560
    assert checkpoint["input_size"] == 240 and checkpoint["feature_key"]
    path = tmp_path / "model.pt"
    save_checkpoint(path, checkpoint)
    predictor = Predictor.from_checkpoint(path, device="cpu")
    probabilities = predictor.predict_paths(small_image_set.paths)
    assert np.isfinite(probabilities).all()
    accuracy = (probabilities.argmax(1) == np.array(small_image_set.labels)).mean()
    assert accuracy >= 0.8, f"the set's head sorts the shapes it was trained on ({accuracy:.2f})"
    rgb = np.zeros((90, 120, 3), np.uint8)
    rgb[20:70, 30:90] = 255
    assert predictor.predict_array(rgb).shape == (3,), "the preview path (torch) works on the set too"
    assert predictor.pretrained_identity is not None
    assert predictor.feature_key == feature_key(SET, predictor.pretrained_identity)
