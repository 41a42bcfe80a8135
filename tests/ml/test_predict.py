"""Predicting with a saved model: identical outputs after a round trip, broken images, the feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ImageSet, Run, file_hash

from desktop.io.images import load_rgb
from desktop.ml.checkpoint import CheckpointError, save_checkpoint
from desktop.ml.predict import Predictor
from desktop.progress import PHASE_PREDICTING, Cancelled, Progress


@pytest.fixture(scope="module")
def sample_paths(image_set: ImageSet) -> list[Path]:
    return [image_set.paths[i] for i in (0, 5, 16, 20, 31, 40)]  # two of each class


def test_saved_model_predicts_exactly_like_the_trained_one(frozen_run: Run, sample_paths: list[Path],
                                                           tmp_path: Path) -> None:
    in_memory = Predictor.from_checkpoint(frozen_run.result.checkpoint, device="cpu")
    path = tmp_path / "model.pt"
    save_checkpoint(path, frozen_run.result.checkpoint)
    from_file = Predictor.from_checkpoint(path, device="cpu")
    from_bytes = Predictor.from_checkpoint(path.read_bytes(), device="cpu")
    expected = in_memory.predict_paths(sample_paths, batch_size=4)
    assert expected.shape == (6, 3) and expected.dtype == np.float32
    np.testing.assert_allclose(expected.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(from_file.predict_paths(sample_paths, batch_size=4), expected)
    np.testing.assert_array_equal(from_bytes.predict_paths(sample_paths, batch_size=4), expected)
    assert from_file.class_names == ["discs", "stripes", "checks"]
    assert (expected.argmax(1) == [0, 0, 1, 1, 2, 2]).mean() >= 5 / 6


def test_one_array_gives_the_same_probabilities_as_its_file(frozen_run: Run, sample_paths: list[Path]) -> None:
    predictor = Predictor.from_checkpoint(frozen_run.result.checkpoint, device="cpu")
    from_files = predictor.predict_paths(sample_paths[:2])
    rgb = load_rgb(sample_paths[1], min_short_side=predictor.spec.resize_size)
    np.testing.assert_allclose(predictor.predict_array(rgb), from_files[1], atol=1e-5)


def test_unreadable_images_give_nan_rows_and_are_reported(frozen_run: Run, sample_paths: list[Path],
                                                          broken_jpeg: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_checkpoint(frozen_run.result.checkpoint, device="cpu")
    paths = [sample_paths[0], broken_jpeg, tmp_path / "gone.jpg", sample_paths[1]]
    errors: dict[int, str] = {}
    events: list = []
    probabilities = predictor.predict_paths(paths, batch_size=2, on_progress=events.append,
                                            on_error=errors.__setitem__)
    assert np.isnan(probabilities[[1, 2]]).all() and np.isfinite(probabilities[[0, 3]]).all()
    assert set(errors) == {1, 2} and "truncated" in errors[1] and "no longer exists" in errors[2]
    assert events[0] == Progress(PHASE_PREDICTING, 0, 4) and events[-1].done == 4


def test_a_frozen_model_reuses_the_training_feature_cache(frozen_run: Run, sample_paths: list[Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = Predictor.from_checkpoint(frozen_run.result.checkpoint, device="cpu")
    fresh = predictor.predict_paths(sample_paths)

    def no_forward(*args, **kwargs):
        raise AssertionError("the backbone ran although every feature was cached")

    monkeypatch.setattr(predictor.model.backbone, "forward", no_forward)
    cached = predictor.predict_paths(sample_paths, content_hashes=[file_hash(p) for p in sample_paths],
                                     cache_dir=frozen_run.cache_dir)
    np.testing.assert_allclose(cached, fresh, atol=1e-5)


def test_prediction_can_be_cancelled(frozen_run: Run, image_set: ImageSet) -> None:
    class CancelAtOnce:
        def is_set(self) -> bool:
            return True

    predictor = Predictor.from_checkpoint(frozen_run.result.checkpoint, device="cpu")
    with pytest.raises(Cancelled):
        predictor.predict_paths(image_set.paths, cancel=CancelAtOnce())


def test_a_model_for_a_missing_backbone_is_refused(frozen_run: Run) -> None:
    checkpoint = dict(frozen_run.result.checkpoint, backbone="efficientnet_lite9")
    with pytest.raises(CheckpointError, match="efficientnet_lite9"):
        Predictor.from_checkpoint(checkpoint)


def test_a_frozen_model_file_holds_its_head_and_rebuilds_the_pretrained_backbone(
        frozen_run: Run, sample_paths: list[Path], tmp_path: Path) -> None:
    """Format 2 keeps a frozen model's head alone; a format-1 file that also holds the backbone still loads, and
    both give the same probabilities."""
    from desktop.ml.train_record import numpy_state

    checkpoint = frozen_run.result.checkpoint
    assert set(checkpoint["state_dict"]) == {"head.linear.weight", "head.linear.bias"}
    head_only = Predictor.from_checkpoint(checkpoint, device="cpu")
    backbone = {f"backbone.{key}": value for key, value in numpy_state(head_only.model.backbone.state_dict()).items()}
    older = dict(checkpoint, format_version=1, state_dict={**backbone, **checkpoint["state_dict"]})
    path = tmp_path / "older.pt"
    save_checkpoint(path, older)
    assert path.stat().st_size > 1_000_000  # the backbone's weights are in this one
    np.testing.assert_array_equal(Predictor.from_checkpoint(path, device="cpu").predict_paths(sample_paths[:2]),
                                  head_only.predict_paths(sample_paths[:2]))


def test_a_frozen_model_on_other_pretrained_weights_is_refused(frozen_run: Run) -> None:
    checkpoint = frozen_run.result.checkpoint
    other = dict(checkpoint, weights={**checkpoint["weights"], "identity": "blake2b:" + "0" * 32})
    with pytest.raises(CheckpointError, match="other pretrained weights of “efficientnet_lite0”") as caught:
        Predictor.from_checkpoint(other, device="cpu")
    assert "\n" not in str(caught.value)


def test_a_frozen_model_whose_pretrained_weights_are_missing_is_refused(frozen_run: Run,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop.ml import predict as predict_module
    from desktop.ml.backbones import WeightsError

    def missing(name: str) -> Path:
        raise WeightsError(f"The ImageNet weights of {name} are not on this computer.")

    monkeypatch.setattr(predict_module, "pretrained_weights", missing)
    with pytest.raises(CheckpointError, match="not on this computer"):
        Predictor.from_checkpoint(frozen_run.result.checkpoint, device="cpu")


def test_a_model_file_without_backbone_weights_or_their_identity_is_refused(frozen_run: Run) -> None:
    checkpoint = frozen_run.result.checkpoint
    for broken in (dict(checkpoint, mode="finetune", feature_key=None),
                   dict(checkpoint, weights={**checkpoint["weights"], "identity": None}, feature_key=None)):
        with pytest.raises(CheckpointError, match="holds no weights for its backbone"):
            Predictor.from_checkpoint(broken, device="cpu")
