"""Backbone features without torch, from the ONNX files shipped with the package (desktop.ml.shipped).

The shipped folder: in the torch-free run, the one scripts/test made before it (``PIGEONHOLE_BACKBONES_DIR``);
in the usual run, exported here once per module. The reference features come from a separate process with torch
(the full build): its own ONNX export made on first use, and torch's eager forward pass. Tolerances: the CPU
build's features equal the full build's ONNX features within ``SAME_ENGINE`` (the same graph on the same inputs:
measured 0, bit-identical), and torch's within ``onnx_engine.FEATURE_TOLERANCE`` = 1e-4 (measured 8e-6; what
lets both engines share one feature cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imagemakers import photo_array, write_rgb

from desktop.ml import builds
from desktop.ml.backbones import get_backbone, pretrained_weights, weights_status
from desktop.ml.features import MIRRORED, ORIGINAL, extract_features, open_feature_cache
from desktop.ml.onnx_engine import FEATURE_TOLERANCE, FeaturesUnavailable
from desktop.ml.shipped import FOLDER_VARIABLE, MANIFEST, onnx_digest

BACKBONE = "efficientnet_lite0"
SAME_ENGINE = 1e-5
ROOT = Path(__file__).resolve().parents[2]

# Run in a process with torch: the full build's features of the photos named in argv[2:], written to argv[1].
REFERENCE = """
import json, os, sys
import numpy as np
from desktop.ml.backbones import build_feature_extractor, get_backbone, pretrained_weights
from desktop.ml.features import MIRRORED, ORIGINAL, extract_features
spec = get_backbone(sys.argv[3])
weights = pretrained_weights(spec.name)
extractor = build_feature_extractor(spec, weights.path)[0]
paths = sys.argv[4:]
onnx = extract_features(extractor, spec, paths, None, views=(ORIGINAL, MIRRORED), weights_identity=weights.identity)
os.environ["PIGEONHOLE_NO_ONNX"] = "1"
eager = extract_features(extractor, spec, paths, None, views=(ORIGINAL, MIRRORED))
np.savez(sys.argv[1], onnx=onnx.features, eager=eager.features)
open(sys.argv[2], "w").write(json.dumps(weights.field))
"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for seed, (width, height, suffix) in enumerate(((320, 240, "jpg"), (180, 300, "png"), (97, 61, "jpg"))):
        paths.append(folder / f"photo-{seed}.{suffix}")
        write_rgb(paths[-1], photo_array(width, height, seed))
    return paths


@pytest.fixture(scope="module")
def full_build(photos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The full build's features of ``photos`` and weights field, computed in a process with torch."""
    folder = tmp_path_factory.mktemp("full-build")
    env = {key: value for key, value in os.environ.items()
           if key not in ("PIGEONHOLE_WITHOUT_TORCH", FOLDER_VARIABLE, "PIGEONHOLE_NO_ONNX")}
    env.update(PIGEONHOLE_CACHE_DIR=str(folder / "cache"), PIGEONHOLE_DATA_DIR=str(folder / "data"))
    ran = subprocess.run([sys.executable, "-c", REFERENCE, str(folder / "features.npz"), str(folder / "weights.json"),
                          BACKBONE, *map(str, photos)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    if ran.returncode != 0 and "No module named 'torch'" in ran.stderr:
        pytest.skip("torch is not installed here: no full build to compare with")
    assert ran.returncode == 0, ran.stderr[-3000:]
    with np.load(folder / "features.npz") as features:
        return {"onnx": features["onnx"], "eager": features["eager"],
                "weights": json.loads((folder / "weights.json").read_text())}


def _cpu_build_features(paths: list[Path], content_hashes: list[str] | None = None, **options):
    return extract_features(None, get_backbone(BACKBONE), paths, content_hashes, views=(ORIGINAL, MIRRORED),
                            weights_identity=pretrained_weights(BACKBONE).identity, **options)


def test_features_without_torch_are_the_full_builds(use_shipped: Path, photos: list[Path], full_build: dict,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # the CPU build, also in the usual run
    assert not builds.torch_installed()
    assert pretrained_weights(BACKBONE).field == full_build["weights"]  # models and caches are shared
    result = _cpu_build_features(photos)
    assert result.ok.all() and result.computed == len(photos) and not result.errors
    assert result.features.shape == (len(photos), 2, 1280)
    assert np.abs(result.features - full_build["onnx"]).max() <= SAME_ENGINE
    assert np.abs(result.features - full_build["eager"]).max() <= FEATURE_TOLERANCE


def test_features_without_torch_are_cached_and_unreadable_photos_reported(use_shipped: Path, photos: list[Path],
                                                                          tmp_path: Path) -> None:
    spec = get_backbone(BACKBONE)
    cache = open_feature_cache(tmp_path / "features", spec, pretrained_weights(BACKBONE).identity)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a photo")
    paths = [photos[0], broken]
    first = _cpu_build_features(paths, content_hashes=["a", "b"], cache=cache)
    assert first.ok.tolist() == [True, False] and list(first.errors) == [1] and first.computed == 1
    again = _cpu_build_features(paths, content_hashes=["a", "b"], cache=cache)
    assert again.reused == 1 and again.computed == 0
    assert np.array_equal(again.features[0], first.features[0])


def test_the_cpu_build_reports_shipped_backbones_and_needs_the_full_build_for_others(
        use_shipped: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    status = weights_status(BACKBONE)
    assert status.available and status.source == "bundled" and status.path.parent == use_shipped
    resnet = weights_status("resnet18")
    assert not resnet.available and resnet.url is None
    assert resnet.message.startswith("ResNet-18 needs the full build") and "\n" not in resnet.message
    with pytest.raises(builds.FullBuildRequired):
        pretrained_weights("resnet18")


def _copy_shipped(source: Path, target: Path) -> Path:
    target.mkdir()
    shutil.copy(source / MANIFEST, target / MANIFEST)
    shutil.copy(source / f"{BACKBONE}.onnx", target / f"{BACKBONE}.onnx")
    return target


def _one_sentence(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message and message.endswith(".")


def test_a_tampered_shipped_file_is_refused_in_one_sentence(shipped: Path, photos: list[Path], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_shipped(shipped, tmp_path / "tampered")
    model = folder / f"{BACKBONE}.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one weight changed: still a loadable graph, computing something else
    model.write_bytes(bytes(data))
    monkeypatch.setenv(FOLDER_VARIABLE, str(folder))
    monkeypatch.setenv("PIGEONHOLE_CACHE_DIR", str(tmp_path / "empty-cache"))  # nothing exported earlier to use
    with pytest.raises(FeaturesUnavailable) as raised:
        _cpu_build_features(photos[:1])
    assert "differs from the one installed" in str(raised.value) and "reinstall Pigeonhole" in str(raised.value)
    _one_sentence(str(raised.value))


def test_a_hostile_shipped_file_is_refused_even_when_its_manifest_matches(shipped: Path, photos: list[Path],
                                                                          tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever rewrote the file and its manifest still cannot run a graph that never ends (onnx_rules)."""
    import onnx
    from onnx import TensorProto, helper

    body = helper.make_graph([helper.make_node("Identity", ["keep"], ["keep_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("keep", TensorProto.BOOL, [])],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("keep_out", TensorProto.BOOL, [])])
    loop = helper.make_node("Loop", ["", "always", "always"], ["never"], body=body)
    graph = helper.make_graph([loop], "hostile", [helper.make_tensor_value_info("images", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, None)],
                              [helper.make_tensor("always", TensorProto.BOOL, [], [True])])
    data = helper.make_model(graph).SerializeToString()
    folder = _copy_shipped(shipped, tmp_path / "hostile")
    (folder / f"{BACKBONE}.onnx").write_bytes(data)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["backbones"][BACKBONE]["onnx_blake2b"] = onnx_digest(data)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    assert onnx.ModelProto.FromString(data).graph.node[0].op_type == "Loop"
    monkeypatch.setenv(FOLDER_VARIABLE, str(folder))
    monkeypatch.setenv("PIGEONHOLE_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(FeaturesUnavailable) as raised:
        _cpu_build_features(photos[:1])
    assert "Loop" in str(raised.value)
    _one_sentence(str(raised.value))


def test_without_a_shipped_file_the_cpu_build_says_so(photos: list[Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-backbones"
    empty.mkdir()
    monkeypatch.setenv(FOLDER_VARIABLE, str(empty))
    monkeypatch.setenv("PIGEONHOLE_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(FeaturesUnavailable) as raised:
        extract_features(None, get_backbone(BACKBONE), photos[:1], None, weights_identity="blake2b:" + "0" * 32)
    assert "no built-in ONNX file" in str(raised.value)
    _one_sentence(str(raised.value))


def test_the_feature_path_imports_without_importing_torch() -> None:
    """Not only importable without torch: importing it leaves torch out even where torch is installed (start-up
    of the full build pays for torch only when a torch path runs)."""
    modules = ["desktop.ml.preprocess", "desktop.ml.data", "desktop.ml.features", "desktop.ml.feature_engine",
               "desktop.ml.onnx_engine", "desktop.ml.backbones", "desktop.ml.shipped",
               "desktop.core.collection_features"]
    code = f"import importlib, sys; [importlib.import_module(n) for n in {modules!r}]; print('torch' in sys.modules)"
    ran = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.strip() == "False"
