"""Exported models: one file holding preprocessing, network and softmax, runnable without Pigeonhole.

The classic inference-pipeline pattern: whoever uses the file hands it decoded pixels and gets probabilities back,
with nothing to re-implement. Both formats take the same input and give the same output:

    input   "images"          uint8 (N, H, W, 3), RGB, any H and W (one size per batch); TorchScript also
                              takes a single (H, W, 3) image
    inside                    resize the shorter side to ``resize_size`` (the model's interpolation, antialiased,
                              rounded to 0-255 like torchvision's uint8 path), centre-crop ``input_size``,
                              scale to 0-1, normalise with ``mean``/``std``, the network, softmax
    output  "probabilities"   float32 (N, C), columns in ``class_names`` order

A frozen model's ONNX file is built without torch, in both builds, from the backbone's ONNX graph with the
preprocessing and the head in ONNX operators (``frozen_onnx``). TorchScript files, and the ONNX files of other
models, are written by torch (``torch_export``: the preprocessing in tensor operations, followed by torch's
exporters with dynamic H and W); the CPU build says they need the full build. The label map travels inside the file
(TorchScript: the ``class_names`` attribute and the ``pigeonhole/labels.json`` extra file; ONNX: the
``pigeonhole.labels`` metadata entry) and beside it as ``<name>.labels.json``.

Running: ``load_exported`` (no torch but for TorchScript) opens an ONNX file or a Pigeonhole checkpoint (loaded with
``weights_only``), neither of which can run code; a TorchScript file is a program that torch's interpreter runs with
the user's rights, so it is opened only with ``trust_code=True`` (``predict-file --trust-code``). Every file, and
the ``.labels.json`` beside it, is read only if it is a regular file under a size cap.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from desktop.errors import PigeonholeError
from desktop.io.files import FileReadError, read_regular_file
from desktop.io.images import ImageError, load_rgb
from desktop.io.safe_files import atomic_create, atomic_write
from desktop.ml.builds import full_build_required, torch_installed
from desktop.ml.checkpoint import load_checkpoint, read_model_file
from desktop.ml.export_format import (
    FORMATS,
    MAX_LABELS_BYTES,
    MAX_MODEL_BYTES,
    ONNX_METADATA_KEY,
    SUFFIXES,
    TORCHSCRIPT_EXTRA,
    ExportError,
    checked_label_map,
    label_map,
    label_map_from_json,
    labels_bytes,
    labels_path_for,
    one_line,
)
from desktop.ml.onnx_rules import UnsafeOnnx
from desktop.ml.onnx_rules import check_onnx_model as check_onnx_rules
from desktop.ml.predict import HeadPredictor, Predictor, require_finite

# Names other modules and tools take from here, where they were defined before export_format.
__all__ = ["FORMATS", "ONNX_METADATA_KEY", "SUFFIXES", "TORCHSCRIPT_EXTRA", "ExportError", "ExportResult",
           "ExportedModel", "UntrustedCode", "check_onnx_model", "export_model", "label_map", "labels_path_for",
           "load_exported", "predict_exported"]


# --- export ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportResult:
    model: Path
    labels: Path
    format: str


def export_model(checkpoint: dict[str, Any], path: Path | str, export_format: str, *,
                 model_id: int | None = None, overwrite: bool = False) -> ExportResult:
    """Write ``path`` (atomically) and ``<name>.labels.json`` beside it; raises ExportError.

    Neither file replaces an existing one unless ``overwrite`` (both are checked before either is written).
    """
    if export_format not in FORMATS:
        raise ExportError(f"Unknown export format “{export_format}”; choose one of {', '.join(FORMATS)}.")
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the name of the model file to write.")
    labels_file = labels_path_for(path)
    if not overwrite:
        for target in (path, labels_file):
            if os.path.lexists(target):
                raise ExportError(f"{target} already exists; choose another name, or replace it on purpose "
                                  "(--force).")
    labels = label_map(checkpoint, model_id=model_id)
    payload = _model_bytes(checkpoint, export_format, labels)
    place = atomic_write if overwrite else atomic_create
    for target, data in ((path, payload), (labels_file, labels_bytes(labels))):
        try:
            place(target, lambda handle, data=data: handle.write(data))
            os.chmod(target, 0o644)  # for other programs to read; atomic writes create private files
        except FileExistsError:  # appeared while the model was being converted
            raise ExportError(f"{target} already exists; choose another name, or replace it on purpose "
                              "(--force).") from None
        except OSError as exc:
            raise ExportError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    return ExportResult(path, labels_file, export_format)


def _model_bytes(checkpoint: dict[str, Any], export_format: str, labels: dict[str, Any]) -> bytes:
    """The file's bytes: a frozen model's ONNX file built without torch; anything else by torch (full build)."""
    if export_format == "torchscript" and not torch_installed():
        raise full_build_required("Exporting to TorchScript")
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")  # a fine-tuned model: FullBuildRequired
    if export_format == "onnx" and isinstance(predictor, HeadPredictor):
        from desktop.ml.frozen_onnx import frozen_model_onnx
        from desktop.ml.onnx_engine import FeaturesUnavailable, backbone_onnx_bytes

        try:
            return frozen_model_onnx(predictor, backbone_onnx_bytes(predictor.spec, predictor.pretrained_identity,
                                                                    predictor.torch_extractor), labels)
        except FeaturesUnavailable as exc:
            if not torch_installed():
                raise ExportError(str(exc)) from exc
        except Exception as exc:  # the onnx package could not convert or check the graph: torch's exporter then
            if not torch_installed():
                raise ExportError(f"This model could not be converted to ONNX ({one_line(exc)}).") from exc
    from desktop.ml.torch_export import build_pipeline, torch_onnx_bytes, torchscript_bytes

    write = torchscript_bytes if export_format == "torchscript" else torch_onnx_bytes
    return write(build_pipeline(predictor), labels)


# --- running an exported model --------------------------------------------------------------------------------

@dataclass
class ExportedModel:
    """A model file ready to run: ``predict_array`` takes one RGB uint8 (H, W, 3) image."""

    path: Path
    format: str  # "torchscript", "onnx" or "checkpoint"
    class_names: list[str]
    info: dict[str, Any]  # the label map (for a checkpoint: the same fields, from the checkpoint)
    _run: Callable[[np.ndarray], np.ndarray] = field(repr=False)

    @property
    def decode_size(self) -> int:
        """Shorter side worth decoding (what Predictor decodes at, so big JPEGs give the same pixels)."""
        return int(self.info.get("resize_size") or 0)

    def predict_array(self, rgb: np.ndarray) -> np.ndarray:
        """Probabilities (C,) float32 for one RGB uint8 (H, W, 3) image."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ExportError("An image must be an RGB uint8 array shaped (height, width, 3).")
        try:
            probabilities = np.asarray(self._run(np.ascontiguousarray(rgb)), dtype=np.float32).reshape(-1)
        except PigeonholeError:
            raise
        except Exception as exc:  # the model itself failed: said once, not once per image
            raise ExportError(f"{self.path.name} failed while running ({one_line(exc)}).") from exc
        if probabilities.shape[0] != len(self.class_names):
            raise ExportError(f"{self.path.name} gives {probabilities.shape[0]} outputs for "
                              f"{len(self.class_names)} classes.")
        return require_finite(probabilities, f"The model {self.path.name}")


class UntrustedCode(ExportError):
    """A TorchScript file, opened without ``trust_code``: it is a program, so it is not run."""


def load_exported(path: Path | str, *, trust_code: bool = False) -> ExportedModel:
    """Open an exported ONNX file or a Pigeonhole checkpoint (and, with ``trust_code``, a TorchScript file);
    raises ExportError/CheckpointError with one sentence.

    Nothing in an ONNX file or a checkpoint can run code: ONNX Runtime only evaluates the graph's standard
    operators (files asking for other operator sets or for data from other files are refused; see
    ``check_onnx_model``), and checkpoints are loaded with ``weights_only``. A TorchScript file is a program that
    torch's interpreter runs with the user's rights (it can read, write and delete files), so it is opened only
    when the caller says its author is trusted.
    """
    path = Path(path).expanduser()
    data = read_model_file(path, MAX_MODEL_BYTES, ExportError)
    kind = _detect_format(data, path.name)
    if kind == "checkpoint":
        return _load_checkpoint_file(path, data)
    if kind == "torchscript":
        if not trust_code:
            raise UntrustedCode(f"{path.name} is a TorchScript file, and TorchScript files are programs that can "
                                "run any code on this computer: use the ONNX export instead, or pass --trust-code "
                                "if you made this file yourself.")
        return _load_torchscript(path, data)
    return _load_onnx(path, data)


def _detect_format(data: bytes, name: str) -> str:
    """"torchscript", "checkpoint" or "onnx", from the file's contents (all three may be called .pt)."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return "onnx"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise ExportError(f"{name} is damaged ({type(exc).__name__}).") from exc
    # torch.jit.load runs what is under code/ (and constants.pkl is TorchScript's own): a program.
    program = any("/code/" in entry or entry.endswith("/constants.pkl") for entry in names)
    return "torchscript" if program else "checkpoint"


def _sidecar(path: Path) -> dict[str, Any] | None:
    """``<name>.labels.json`` beside the model, if there is one: read like the model (regular file, capped)."""
    labels = labels_path_for(path)
    if not os.path.lexists(labels):
        return None
    try:
        data = read_regular_file(labels, MAX_LABELS_BYTES)
    except FileReadError as exc:
        raise ExportError(str(exc)) from None
    return label_map_from_json(data, labels.name)


def _checked_labels(path: Path, inside: dict[str, Any] | None) -> dict[str, Any]:
    """The label map from inside the file, else from ``<name>.labels.json``; refuses files with neither."""
    info = inside if inside is not None else _sidecar(path)
    if info is None:
        raise ExportError(f"{path.name} is not a Pigeonhole export: it has no list of class names "
                          f"(and no {labels_path_for(path).name} beside it).")
    return info


def _load_checkpoint_file(path: Path, data: bytes) -> ExportedModel:
    checkpoint = load_checkpoint(data, name=path.name)  # weights_only: runs no code
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    info = label_map(checkpoint)
    return ExportedModel(path, "checkpoint", list(predictor.class_names), info, predictor.predict_array)


def _load_torchscript(path: Path, data: bytes) -> ExportedModel:
    if not torch_installed():
        raise full_build_required("Running a TorchScript file")
    from desktop.ml.torch_export import load_torchscript, run_torchscript

    module, text = load_torchscript(path.name, data)
    inside = None
    if text:
        inside = label_map_from_json(text, f"The label map inside {path.name}")
    elif hasattr(module, "class_names"):
        with contextlib.suppress(TypeError, ValueError):
            inside = checked_label_map({"class_names": list(module.class_names)}, path.name)
    info = _checked_labels(path, inside)
    return ExportedModel(path, "torchscript", list(info["class_names"]), info,
                         lambda rgb: run_torchscript(module, rgb))


def check_onnx_model(data: bytes, name: str) -> None:
    """``onnx_rules.check_onnx_model`` (no external tensor data, standard operators only, no loops), as an
    ExportError."""
    try:
        check_onnx_rules(data, name)
    except UnsafeOnnx as exc:
        raise ExportError(str(exc)) from exc.__cause__


def _load_onnx(path: Path, data: bytes) -> ExportedModel:
    try:
        import onnxruntime
    except ImportError:
        raise ExportError("Running ONNX models needs the onnxruntime package (pip install onnxruntime).") from None
    check_onnx_model(data, path.name)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise here
    # Parsed as ONNX, as checked: never as ONNX Runtime's own format, which bytes can also claim to be.
    options.add_session_config_entry("session.load_model_format", "ONNX")
    try:
        # The bytes just checked are the bytes that run: no second read of a file that may have changed since.
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"{path.name} is not a model file Pigeonhole can run (not TorchScript, "
                          "not ONNX, not a Pigeonhole checkpoint).") from exc
    inside = None
    raw = session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY)
    if raw:
        inside = label_map_from_json(raw, f"The label map inside {path.name}")
    info = _checked_labels(path, inside)
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(uint8)" or len(inputs[0].shape) != 4:
        raise ExportError(f"{path.name} does not take uint8 images shaped (N, H, W, 3), as Pigeonhole exports do.")
    input_name = inputs[0].name

    def run(rgb: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: rgb[None]})[0][0]

    return ExportedModel(path, "onnx", list(info["class_names"]), info, run)


def predict_exported(path: Path | str | ExportedModel, image_paths: Sequence[Path | str]
                     ) -> tuple[list[str], np.ndarray, list[tuple[Path, str]]]:
    """(class names, probabilities (N, C) float32 with NaN rows for unreadable images, [(path, reason)]).

    A file that cannot be read or decoded is reported in the errors, never raised; the model itself not
    loading or failing (an error, NaN scores) raises a PigeonholeError.
    """
    model = path if isinstance(path, ExportedModel) else load_exported(path)
    probabilities = np.full((len(image_paths), len(model.class_names)), np.nan, dtype=np.float32)
    errors: list[tuple[Path, str]] = []
    for index, image_path in enumerate(image_paths):
        image_path = Path(image_path)
        try:
            rgb = load_rgb(image_path, min_short_side=model.decode_size)
        except ImageError as exc:
            errors.append((image_path, str(exc)))
            continue
        except Exception as exc:  # one odd file must not stop the others
            errors.append((image_path, f"could not be decoded ({one_line(exc)})"))
            continue
        probabilities[index] = model.predict_array(rgb)  # a failing model raises: it would fail on every image
    return list(model.class_names), probabilities, errors
