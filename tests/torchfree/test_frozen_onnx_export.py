"""The CPU build exports a frozen model to ONNX without torch (ml/frozen_onnx: the shipped backbone's graph with
the preprocessing and the head in ONNX operators), and runs the file: `export --what onnx`, `predict-file`,
``load_exported``. The file gives the app's probabilities within ``frozen_onnx.EXPORT_TOLERANCE`` on real photos
(measured 3e-4: Pillow's fixed-point resize in the app, ONNX Runtime's floating-point one in the file) and keeps
its label map; TorchScript says it needs the full build."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from desktop.cli import main
from desktop.core.models_registry import active_model
from desktop.core.project import open_project
from desktop.core.self_test import write_pictures
from desktop.io.images import load_rgb
from desktop.ml.export import ONNX_METADATA_KEY, labels_path_for, load_exported, predict_exported
from desktop.ml.frozen_onnx import EXPORT_TOLERANCE
from desktop.ml.predict import Predictor


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_cpu_build_exports_a_frozen_model_to_onnx_and_runs_it(cpu_build: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]):
    project_file = tmp_path / "photos.pigeonhole"
    assert run(capsys, "import", project_file, write_pictures(tmp_path / "labelled", per_class=8),
               "--labels-from-subfolders")[0] == 0
    assert run(capsys, "train", project_file)[0] == 0
    with open_project(project_file, create=False) as project:
        model_file = active_model(project).file

    code, out = run(capsys, "export", project_file, "--what", "torchscript", "--out", tmp_path / "model.pt")
    assert code != 0 and "needs the full build" in out and "Traceback" not in out
    exported = tmp_path / "model.onnx"
    code, out = run(capsys, "export", project_file, "--what", "onnx", "--out", exported)
    assert code == 0, out

    # Real photos of every shape: landscape, portrait, square, one smaller than the crop.
    photos = []
    for name, rgb in (("chelsea", data.chelsea()), ("rocket", data.rocket()), ("astronaut", data.astronaut()),
                      ("coffee-strip", data.coffee()[:, 200:320]), ("small", data.chelsea()[::4, ::4])):
        photos.append(tmp_path / f"{name}.png")
        cv2.imwrite(str(photos[-1]), rgb[..., ::-1])
    model = load_exported(exported)
    predictor = Predictor.from_checkpoint(model_file)
    assert model.format == "onnx" and model.class_names == predictor.class_names == ["discs", "stripes"]
    expected = np.stack([predictor.predict_array(load_rgb(path, min_short_side=model.decode_size))
                         for path in photos])
    names, probabilities, errors = predict_exported(model, photos)
    assert names == predictor.class_names and not errors
    assert np.abs(probabilities - expected).max() < EXPORT_TOLERANCE
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    labels = json.loads(labels_path_for(exported).read_text())
    assert labels["class_names"] == ["discs", "stripes"] and labels["backbone"] == "efficientnet_lite0"
    import onnx

    inside = {entry.key: entry.value for entry in onnx.load(str(exported)).metadata_props}
    assert json.loads(inside[ONNX_METADATA_KEY])["class_names"] == ["discs", "stripes"]

    code, out = run(capsys, "predict-file", exported, photos[0], "--json")
    assert code == 0, out
    assert "discs" in out and "stripes" in out
    assert sys.modules.get("torch") is None


def test_the_heatmap_and_export_modules_import_without_importing_torch() -> None:
    """Importing them leaves torch out even where torch is installed: they import it only on torch's paths (a
    fine-tuned model's Grad-CAM, TorchScript, torch's ONNX exporter). export.py used to import torch at its top."""
    import subprocess

    modules = ["desktop.ml.gradcam", "desktop.ml.frozen_cam", "desktop.core.explain", "desktop.ml.export",
               "desktop.ml.export_format", "desktop.ml.frozen_onnx", "desktop.core.export"]
    code = f"import importlib, sys; [importlib.import_module(n) for n in {modules!r}]; print('torch' in sys.modules)"
    ran = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.strip() == "False"
