"""CPU inference through ONNX Runtime: same features as torch, one cached export, rebuilt when damaged, and torch
whenever ONNX Runtime fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ImageSet, Run, file_hash
from imagemakers import write_rgb

from desktop.ml import onnx_engine
from desktop.ml.backbones import build_feature_extractor, get_backbone, require_weights, weights_identity
from desktop.ml.features import ORIGINAL, extract_features
from desktop.ml.onnx_engine import FEATURE_TOLERANCE, OnnxExtractor, load_onnx_extractor, onnx_file
from desktop.ml.predict import Predictor
from desktop.ml.train_record import numpy_state
from desktop.progress import Cancelled, Notice

SPEC = get_backbone("efficientnet_lite0")


@pytest.fixture(scope="module")
def lite0():
    weights = require_weights(SPEC.name)
    return build_feature_extractor(SPEC, weights)[0], weights_identity(weights)


@pytest.fixture(scope="module")
def real_photos(image_set: ImageSet, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """scikit-image's sample photographs (JPEG and PNG, portrait and landscape) and a few drawn shapes."""
    from skimage import data

    folder = tmp_path_factory.mktemp("sample-photos")
    paths = []
    for index, name in enumerate(("astronaut", "coffee", "chelsea", "rocket")):
        rgb = getattr(data, name)()
        path = folder / f"{name}.{'jpg' if index % 2 else 'png'}"
        write_rgb(path, rgb if index != 3 else np.ascontiguousarray(rgb.transpose(1, 0, 2)))
        paths.append(path)
    return paths + image_set.paths[::9]


def _forget_open_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_engine, "_open_sessions", {})
    monkeypatch.setattr(onnx_engine, "_failed", set())
    monkeypatch.setattr(onnx_engine, "_loads", {})


def test_onnx_runtime_computes_the_same_features_as_torch(lite0, real_photos: list[Path]) -> None:
    extractor, identity = lite0
    torch_features = extract_features(extractor, SPEC, real_photos, None, batch_size=4)
    onnx_features = extract_features(extractor, SPEC, real_photos, None, batch_size=4, weights_identity=identity)
    assert torch_features.ok.all() and onnx_features.ok.all()
    assert onnx_file(SPEC, identity).is_file(), "the ONNX path ran"
    gap = np.abs(onnx_features.features - torch_features.features).max()
    assert 0 < gap <= FEATURE_TOLERANCE, "the same cache key serves both engines only within the tolerance"
    assert np.abs(torch_features.features).max() > 1.0, "real features, not zeros"


def test_the_export_is_cached_and_reused_across_processes(lite0, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    extractor, identity = lite0
    _forget_open_sessions(monkeypatch)
    events: list = []
    first = load_onnx_extractor(SPEC, identity, extractor, folder=tmp_path, on_progress=events.append)
    assert first is not None and first.path.parent == tmp_path
    assert [type(e) for e in events] == [Notice] and "Preparing" in events[0].message, "first use says so"
    written = first.path.stat().st_mtime_ns

    _forget_open_sessions(monkeypatch)  # as a new process would start

    def no_export(*_args):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_engine, "export_extractor", no_export)
    again = load_onnx_extractor(SPEC, identity, lambda: pytest.fail("built the torch network"), folder=tmp_path)
    assert again is not None and again.path == first.path and again.path.stat().st_mtime_ns == written
    images = np.random.default_rng(0).standard_normal((2, 3, SPEC.input_size, SPEC.input_size), dtype=np.float32)
    np.testing.assert_array_equal(again(images), first(images))
    assert onnx_file(SPEC, "blake2b:other") != first.path, "other weights get another file"


@pytest.fixture(scope="module")
def good_export(lite0, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    extractor, identity = lite0
    folder = tmp_path_factory.mktemp("onnx")
    return load_onnx_extractor(SPEC, identity, extractor, folder=folder).path.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_a_damaged_export_is_rebuilt(lite0, good_export: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     damage: str) -> None:
    extractor, identity = lite0
    _forget_open_sessions(monkeypatch)
    data = good_export
    if damage == "truncated":  # no longer parses
        bad = data[: len(data) // 2]
    else:  # still parses: only the graph digest notices
        middle = len(data) // 2
        bad = data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1:]
    path = onnx_file(SPEC, identity, tmp_path)
    path.write_bytes(bad)
    rebuilt = load_onnx_extractor(SPEC, identity, extractor, folder=tmp_path)
    assert rebuilt is not None and rebuilt.path == path and path.read_bytes() == data


def test_features_fall_back_to_torch_when_onnx_runtime_fails(lite0, real_photos: list[Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    extractor, identity = lite0
    paths = real_photos[:3]
    expected = extract_features(extractor, SPEC, paths, None, batch_size=4).features

    def broken_run(self, images, cancel=None):
        raise RuntimeError("onnxruntime exploded")

    monkeypatch.setattr(OnnxExtractor, "__call__", broken_run)
    events: list = []
    result = extract_features(extractor, SPEC, paths, None, batch_size=4, weights_identity=identity,
                              on_progress=events.append)
    np.testing.assert_allclose(result.features, expected, atol=1e-6)
    assert any(isinstance(e, Notice) and "PyTorch" in e.message for e in events)

    # No session at all (a broken or missing onnxruntime): told once, torch computes.
    _forget_open_sessions(monkeypatch)

    def no_session(*_args, **_kwargs):
        raise OSError("libonnxruntime.so: cannot open shared object file")

    monkeypatch.setattr(OnnxExtractor, "__init__", no_session)
    events.clear()
    result = extract_features(extractor, SPEC, paths, None, batch_size=4, weights_identity=identity,
                              on_progress=events.append)
    np.testing.assert_allclose(result.features, expected, atol=1e-6)
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "unavailable" in notices[0] and "cannot open shared object" in notices[0]


def test_frozen_models_predict_through_onnx_and_fine_tuned_ones_through_torch(
        frozen_run: Run, real_photos: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    run = OnnxExtractor.__call__

    def counting(self, images, cancel=None):
        calls.append(len(images))
        return run(self, images, cancel)

    monkeypatch.setattr(OnnxExtractor, "__call__", counting)
    frozen = Predictor.from_checkpoint(frozen_run.result.checkpoint, device="cpu")
    probabilities = frozen.predict_paths(real_photos[:3])
    assert calls == [3] and np.isfinite(probabilities).all()
    hashes = [file_hash(path) for path in real_photos[:3]]
    via_torch = extract_features(frozen.model.backbone, frozen.spec, real_photos[:3], hashes).features[:, ORIGINAL]
    np.testing.assert_allclose(probabilities, frozen.head_probabilities(via_torch), atol=1e-5)

    calls.clear()
    # A fine-tuned model's checkpoint has no feature key: its backbone is no longer the pretrained one (and is
    # saved with its head: here the pretrained one, saved as a fine-tuned model's would be).
    checkpoint = frozen_run.result.checkpoint
    backbone = {f"backbone.{key}": value for key, value in numpy_state(frozen.model.backbone.state_dict()).items()}
    tuned = Predictor.from_checkpoint({**checkpoint, "mode": "finetune", "feature_key": None,
                                       "state_dict": {**backbone, **checkpoint["state_dict"]}}, device="cpu")
    assert tuned.pretrained_identity is None
    tuned.predict_paths(real_photos[:2])
    assert calls == []


def test_the_environment_can_choose_torch(lite0, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    extractor, identity = lite0
    _forget_open_sessions(monkeypatch)
    monkeypatch.setenv(onnx_engine.DISABLE_VARIABLE, "1")
    assert load_onnx_extractor(SPEC, identity, extractor, folder=tmp_path) is None
    assert not list(tmp_path.iterdir()), "nothing exported"


class _TripsWhenWatched:
    """A cancel token that is set from the moment anything but the first check looks at it."""

    def __init__(self) -> None:
        self.checks = 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks > 1


def test_a_cancel_stops_onnx_runtime_inside_a_batch(lite0) -> None:
    extractor, identity = lite0
    onnx = load_onnx_extractor(SPEC, identity, extractor)
    # 48 crops are a second or more of work: the watcher's second poll (at 0.1 s) comes well inside the run.
    images = np.zeros((48, 3, SPEC.input_size, SPEC.input_size), np.float32)
    with pytest.raises(Cancelled):
        onnx(images, _TripsWhenWatched())
    assert onnx(images[:1]).shape == (1, 1280), "the session still works after a terminated run"


def test_a_cancel_during_the_export_returns_at_once_and_the_export_still_lands(
        lite0, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    extractor, identity = lite0
    _forget_open_sessions(monkeypatch)
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(Cancelled):
        load_onnx_extractor(SPEC, identity, extractor, folder=tmp_path, cancel=cancelled)
    path = onnx_file(SPEC, identity, tmp_path)
    onnx_engine._loads[(path, None)].result(timeout=600)  # finished in the background, for the next job
    monkeypatch.setattr(onnx_engine, "export_extractor", lambda *_args: pytest.fail("exported again"))
    assert load_onnx_extractor(SPEC, identity, extractor, folder=tmp_path).path == path
