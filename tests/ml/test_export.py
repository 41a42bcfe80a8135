"""Exported models (TorchScript, ONNX): same answers as the Predictor, label maps inside and beside, safe running."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from imagemakers import draw_shape, write_rgb

from desktop.ml.backbones import get_backbone
from desktop.ml.checkpoint import save_checkpoint
from desktop.ml.export import (
    ONNX_METADATA_KEY,
    TORCHSCRIPT_EXTRA,
    ExportError,
    export_model,
    labels_path_for,
    load_exported,
    predict_exported,
)
from desktop.ml.predict import Predictor
from desktop.ml.torch_export import InferencePipeline
from desktop.ml.transforms import eval_transform

# TorchScript is deprecated in torch 2.x but still the one-file format most tools load; the tests use it directly.
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:FutureWarning")


@pytest.fixture(scope="module")
def checkpoint(frozen_run) -> dict:
    return frozen_run.result.checkpoint


@pytest.fixture(scope="module")
def exports(checkpoint, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The frozen-mode model of tests/ml/conftest.py exported once in each format (and saved as a checkpoint)."""
    folder = tmp_path_factory.mktemp("exports")
    save_checkpoint(folder / "model.pt", checkpoint)
    return {
        "torchscript": export_model(checkpoint, folder / "shapes.ts", "torchscript", model_id=4).model,
        # Both formats share shapes.labels.json, so the second export replaces it on purpose.
        "onnx": export_model(checkpoint, folder / "shapes.onnx", "onnx", model_id=4, overwrite=True).model,
        "checkpoint": folder / "model.pt",
    }


@pytest.fixture(scope="module")
def probe_images(image_set, broken_jpeg, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Validation pictures, a portrait, a landscape, a large JPEG (decoded at reduced size) and a broken one."""
    folder = tmp_path_factory.mktemp("probe")
    rng = np.random.default_rng(11)
    odd = []
    for name, kind, (width, height) in (("wide.png", "discs", (180, 90)), ("tall.jpg", "stripes", (70, 150)),
                                        ("large.jpg", "checks", (1200, 900))):
        square = draw_shape(kind, rng, max(width, height))
        write_rgb(folder / name, cv2.resize(square, (width, height), interpolation=cv2.INTER_AREA))
        odd.append(folder / name)
    val = [path for path, split in zip(image_set.paths, image_set.splits, strict=True) if split == "val"]
    return [*val, *odd, broken_jpeg]


@pytest.fixture(scope="module")
def reference(checkpoint, probe_images) -> np.ndarray:
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    return predictor.predict_paths(probe_images, num_workers=0)


@pytest.mark.parametrize("kind", ["torchscript", "onnx", "checkpoint"])
def test_exported_model_agrees_with_the_predictor(kind, exports, probe_images, reference, checkpoint):
    model = load_exported(exports[kind], trust_code=kind == "torchscript")  # we made this TorchScript file
    class_names, probabilities, errors = predict_exported(model, probe_images)
    assert class_names == checkpoint["class_names"]
    assert probabilities.shape == (len(probe_images), 3) and probabilities.dtype == np.float32
    ok = ~np.isnan(reference).any(axis=1)
    assert ok.sum() == len(probe_images) - 1  # only the truncated JPEG fails
    np.testing.assert_array_equal(probabilities[ok].argmax(1), reference[ok].argmax(1))
    np.testing.assert_allclose(probabilities[ok], reference[ok], atol=0.01)
    np.testing.assert_allclose(probabilities[ok].sum(1), 1.0, atol=1e-5)
    # The broken file: a NaN row and one readable reason, never an exception.
    assert np.isnan(probabilities[-1]).all()
    assert [(path.name, reason.split(":")[0]) for path, reason in errors] == [("truncated.jpg", "truncated")]


def test_label_map_is_beside_and_inside_each_file(exports, checkpoint):
    import onnxruntime

    for kind in ("torchscript", "onnx"):
        labels = json.loads(labels_path_for(exports[kind]).read_text(encoding="utf-8"))
        assert labels_path_for(exports[kind]).name == "shapes.labels.json"
        assert labels["class_names"] == ["discs", "stripes", "checks"] == checkpoint["class_names"]
        assert labels["model_id"] == 4
        assert labels["backbone"] == "efficientnet_lite0"
        assert (labels["input_size"], labels["resize_size"], labels["interpolation"]) == (224, 256, "bicubic")
        assert labels["mean"] == pytest.approx(checkpoint["mean"]) and labels["std"] == pytest.approx(checkpoint["std"])
        assert labels["input"]["layout"] == "NHWC" and labels["input"]["dtype"] == "uint8"

    extra = {TORCHSCRIPT_EXTRA: ""}
    module = torch.jit.load(str(exports["torchscript"]), _extra_files=extra)
    assert json.loads(extra[TORCHSCRIPT_EXTRA])["class_names"] == checkpoint["class_names"]
    assert list(module.class_names) == checkpoint["class_names"]
    session = onnxruntime.InferenceSession(str(exports["onnx"]), providers=["CPUExecutionProvider"])
    inside = json.loads(session.get_modelmeta().custom_metadata_map[ONNX_METADATA_KEY])
    assert inside["class_names"] == checkpoint["class_names"]
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]


def test_the_label_map_inside_is_enough(exports, tmp_path):
    """Copied without its .labels.json, a file still knows its classes."""
    for kind in ("torchscript", "onnx"):
        alone = tmp_path / exports[kind].name
        alone.write_bytes(exports[kind].read_bytes())
        model = load_exported(alone, trust_code=True)
        assert model.format == kind and model.class_names == ["discs", "stripes", "checks"]


def test_exported_files_take_batches_of_any_size_and_single_images(exports):
    import onnxruntime

    rng = np.random.default_rng(3)
    batch = np.stack([draw_shape("discs", rng, 120)[:90] for _ in range(2)])  # (2, 90, 120, 3)
    module = torch.jit.load(str(exports["torchscript"]))
    with torch.inference_mode():
        scripted = module(torch.from_numpy(batch)).numpy()
        single = module(torch.from_numpy(batch[0])).numpy()
    session = onnxruntime.InferenceSession(str(exports["onnx"]), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"images": batch})[0]
    assert scripted.shape == onnx_out.shape == (2, 3)
    np.testing.assert_allclose(single[0], scripted[0], atol=1e-5)
    np.testing.assert_allclose(onnx_out, scripted, atol=1e-4)
    with pytest.raises(Exception, match="uint8"):
        module(torch.zeros(1, 50, 50, 3))


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("size", [(64, 64), (90, 200), (300, 120), (257, 255), (700, 500)])
def test_preprocessing_matches_eval_transform(interpolation, size):
    """Same crop and scale as torchvision's uint8 path; pixel values differ by its fixed-point rounding at most."""
    spec = replace(get_backbone("efficientnet_lite0"), interpolation=interpolation)
    rgb = draw_shape("checks", np.random.default_rng(size[0]), max(size))[: size[0], : size[1]].copy()
    pipeline = InferencePipeline(torch.nn.Identity(), input_size=spec.input_size, resize_size=spec.resize_size,
                                 interpolation=interpolation, mean=spec.mean, std=spec.std, class_names=["a", "b"])
    ours = pipeline.preprocess(torch.from_numpy(rgb))[0]
    expected = eval_transform(spec)(rgb)
    assert ours.shape == expected.shape == (3, 224, 224)
    levels = ((ours - expected) * torch.tensor(spec.std).view(3, 1, 1) * 255).abs()
    assert levels.max() <= 2.01
    assert (levels > 0.5).float().mean() < 0.15


def test_not_a_model_or_missing_file_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"definitely not a model")
    with pytest.raises(ExportError, match="not a model file Pigeonhole can run"):
        load_exported(junk)
    with pytest.raises(ExportError, match="does not exist"):
        load_exported(tmp_path / "nothing.pt")
    stranger = tmp_path / "stranger.ts"  # TorchScript, but no class names inside or beside it
    torch.jit.save(torch.jit.script(torch.nn.Softmax(1)), str(stranger))
    with pytest.raises(ExportError, match="not a Pigeonhole export"):
        load_exported(stranger, trust_code=True)
    archive = tmp_path / "other.pt"  # a zip that is neither: refused by the checkpoint loader
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("archive/data.pkl", b"junk")
    with pytest.raises(Exception, match="damaged or not a Pigeonhole model"):
        load_exported(archive)


def test_unknown_format_or_folder_destination_is_refused(checkpoint, tmp_path):
    with pytest.raises(ExportError, match="Unknown export format"):
        export_model(checkpoint, tmp_path / "m.bin", "tflite")
    with pytest.raises(ExportError, match="is a folder"):
        export_model(checkpoint, tmp_path, "torchscript")


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_a_frozen_models_onnx_file_is_built_without_torch_and_gives_the_apps_probabilities(
        interpolation, checkpoint, tmp_path, monkeypatch):
    """ml/frozen_onnx: the backbone's ONNX graph, the preprocessing and the head in ONNX operators (torch's exporter
    is not called); the app's probabilities within EXPORT_TOLERANCE on photos of many shapes, either interpolation."""
    from desktop.ml import torch_export
    from desktop.ml.frozen_onnx import EXPORT_TOLERANCE

    def no_torch_exporter(*_args):
        raise AssertionError("a frozen model went through torch's ONNX exporter")

    monkeypatch.setattr(torch_export, "torch_onnx_bytes", no_torch_exporter)
    frozen = {**checkpoint, "interpolation": interpolation}
    model = load_exported(export_model(frozen, tmp_path / "frozen.onnx", "onnx").model)
    predictor = Predictor.from_checkpoint(frozen, device="cpu")
    rng = np.random.default_rng(5)
    worst = 0.0
    for kind, (width, height) in zip(("discs", "stripes", "checks", "discs", "stripes"),
                                     ((64, 64), (90, 200), (300, 120), (257, 255), (700, 500)), strict=True):
        rgb = cv2.resize(draw_shape(kind, rng, max(width, height)), (width, height), interpolation=cv2.INTER_AREA)
        worst = max(worst, float(np.abs(model.predict_array(rgb) - predictor.predict_array(rgb)).max()))
    assert worst < EXPORT_TOLERANCE


def test_a_fine_tuned_model_is_still_exported_to_onnx_by_torch(finetune_run, tmp_path):
    """Its backbone is not the pretrained one, so no backbone ONNX file serves: torch's exporter writes the file."""
    checkpoint = finetune_run.result.checkpoint
    model = load_exported(export_model(checkpoint, tmp_path / "tuned.onnx", "onnx").model)
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    rgb = draw_shape("discs", np.random.default_rng(8), 150)[:, :120]
    assert model.class_names == predictor.class_names
    np.testing.assert_allclose(model.predict_array(rgb), predictor.predict_array(rgb), atol=0.01)
