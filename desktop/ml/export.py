"""Exported models: one file holding preprocessing, network and softmax, runnable without Pigeonhole.

The classic inference-pipeline pattern: whoever uses the file hands it decoded pixels and gets
probabilities back, with nothing to re-implement. Both formats take the same input and give the same output:

    input   "images"          uint8 (N, H, W, 3), RGB, any H and W (one size per batch); TorchScript also
                              takes a single (H, W, 3) image
    inside                    resize the shorter side to ``resize_size`` (the model's interpolation, antialiased,
                              rounded to 0-255 like torchvision's uint8 path), centre-crop ``input_size``,
                              scale to 0-1, normalise with ``mean``/``std``, the network, softmax
    output  "probabilities"   float32 (N, C), columns in ``class_names`` order

This is ``desktop.ml.transforms.eval_transform`` written with tensor operations only, so that the ONNX
exporter can follow it with dynamic H and W (no branch on the image's orientation: the shorter side comes from
``min``). The label map travels inside the file (TorchScript: the ``class_names`` attribute and the
``pigeonhole/labels.json`` extra file; ONNX: the ``pigeonhole.labels`` metadata entry) and beside it as
``<name>.labels.json``.

Running: ``load_exported`` opens an ONNX file or a Pigeonhole checkpoint (loaded with ``weights_only``), neither
of which can run code; a TorchScript file is a program that torch's interpreter runs with the user's rights, so
it is opened only with ``trust_code=True`` (``predict-file --trust-code``). Every file, and the
``.labels.json`` beside it, is read only if it is a regular file under a size cap.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import desktop
from desktop.errors import PigeonholeError
from desktop.io.files import FileReadError, read_regular_file
from desktop.io.images import ImageError, load_rgb
from desktop.io.safe_files import atomic_create, atomic_write
from desktop.ml.checkpoint import (
    MAX_CLASS_NAME_CHARS,
    MAX_CLASSES,
    MAX_FILE_BYTES,
    MAX_INPUT_SIZE,
    load_checkpoint,
    read_model_file,
)
from desktop.ml.onnx_rules import UnsafeOnnx
from desktop.ml.onnx_rules import check_onnx_model as check_onnx_rules
from desktop.ml.predict import Predictor, require_finite

FORMATS = ("torchscript", "onnx")
SUFFIXES = {"torchscript": ".pt", "onnx": ".onnx"}
LABELS_SUFFIX = ".labels.json"
LABELS_KIND = "pigeonhole-labels"
LABELS_VERSION = 1
TORCHSCRIPT_EXTRA = "pigeonhole/labels.json"  # stored as extra/pigeonhole/labels.json in the archive
ONNX_METADATA_KEY = "pigeonhole.labels"
INPUT_NAME, OUTPUT_NAME = "images", "probabilities"
ONNX_OPSET = 18  # the first with Resize(antialias=1)
INTERPOLATIONS = ("bilinear", "bicubic")
MAX_SIDE = 1 << 15  # ONNX export: the largest H or W the graph is declared for
MAX_MODEL_BYTES = MAX_FILE_BYTES  # any model file predict-file opens: exports are about a checkpoint's size
MAX_LABELS_BYTES = 1 << 20  # a label map is a few kilobytes


class ExportError(PigeonholeError):
    """A model cannot be exported or run; ``str(error)`` says why in one sentence."""


# --- the pipeline ---------------------------------------------------------------------------------------------

class InferencePipeline(nn.Module):
    """uint8 RGB (N, H, W, 3) or (H, W, 3) → probabilities (N, C); see the module docstring."""

    def __init__(self, network: nn.Module, *, input_size: int, resize_size: int, interpolation: str,
                 mean: Sequence[float], std: Sequence[float], class_names: Sequence[str]) -> None:
        super().__init__()
        if interpolation not in INTERPOLATIONS:
            raise ExportError(f"Models resized with “{interpolation}” interpolation cannot be exported.")
        if resize_size < input_size:
            raise ExportError("The model's resize size is smaller than its crop, which export does not support.")
        self.network = network
        self.input_size = int(input_size)
        self.resize_size = int(resize_size)
        self.interpolation = interpolation
        self.class_names: list[str] = list(class_names)
        self.register_buffer("mean", torch.tensor([float(v) for v in mean]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([float(v) for v in std]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # an inference file: callers should not need to remember no_grad
            return self.network(self.preprocess(images)).softmax(1)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) or (H, W, 3) → normalised float (N, 3, input_size, input_size), as eval_transform."""
        if images.dim() == 3:
            images = images.unsqueeze(0)
        if images.dim() != 4 or images.size(3) != 3 or images.dtype != torch.uint8:
            raise ValueError("expected uint8 RGB images shaped (N, H, W, 3) or (H, W, 3)")
        x = images.permute(0, 3, 1, 2).float()
        height = x.size(2)
        width = x.size(3)
        # The shorter side becomes resize_size, the longer one int(resize_size * long / short), as torchvision's
        # Resize(int) computes it; with integers and min() the same formula serves both orientations.
        short = min(height, width) if torch.jit.is_scripting() else torch.sym_min(height, width)
        new_height = self.resize_size * height // short
        new_width = self.resize_size * width // short
        # torchvision resizes uint8 images like Pillow: width first, then height, rounding to 0-255 after each
        # pass (bicubic overshoots, so the clamp in between matters); the same two passes in float.
        x = F.interpolate(x, size=[height, new_width], mode=self.interpolation, align_corners=False,
                          antialias=True).clamp(0.0, 255.0).round()
        x = F.interpolate(x, size=[new_height, new_width], mode=self.interpolation, align_corners=False,
                          antialias=True).clamp(0.0, 255.0).round()
        top = _centre_offset(new_height - self.input_size)
        left = _centre_offset(new_width - self.input_size)
        x = x[:, :, top : top + self.input_size, left : left + self.input_size]
        return (x / 255.0 - self.mean) / self.std


def _centre_offset(excess: int) -> int:
    """``int(round(excess / 2))`` with Python's round-half-to-even (torchvision's centre crop), in integers."""
    half = excess // 2
    return half + (half % 2) * (excess % 2)


def build_pipeline(checkpoint: dict[str, Any]) -> InferencePipeline:
    """The eager pipeline of a checkpoint, on the CPU, in eval mode."""
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    spec = predictor.spec
    model = predictor.model.eval().to(memory_format=torch.contiguous_format)
    return InferencePipeline(model, input_size=spec.input_size, resize_size=spec.resize_size,
                             interpolation=spec.interpolation, mean=spec.mean, std=spec.std,
                             class_names=predictor.class_names).eval()


# --- the label map --------------------------------------------------------------------------------------------

def labels_path_for(path: Path | str) -> Path:
    """``model.onnx`` → ``model.labels.json`` (beside the model)."""
    path = Path(path)
    return path.with_name(path.stem + LABELS_SUFFIX)


def label_map(checkpoint: dict[str, Any], *, model_id: int | None = None) -> dict[str, Any]:
    """Everything a user of the exported file needs to know, as plain JSON (the same for both formats, which
    may share one ``<name>.labels.json``)."""
    return {
        "kind": LABELS_KIND,
        "version": LABELS_VERSION,
        "class_names": list(checkpoint["class_names"]),
        "input": {"name": INPUT_NAME, "dtype": "uint8", "layout": "NHWC", "colour": "RGB",
                  "note": "any height and width; the file resizes, crops and normalises itself"},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["N", len(checkpoint["class_names"])],
                   "note": "softmax probabilities in class_names order"},
        "input_size": int(checkpoint["input_size"]),
        "resize_size": int(checkpoint["resize_size"]),
        "interpolation": str(checkpoint.get("interpolation", "bilinear")),
        "mean": [float(v) for v in checkpoint["mean"]],
        "std": [float(v) for v in checkpoint["std"]],
        "backbone": checkpoint["backbone"],
        "mode": checkpoint.get("mode"),
        "model_id": model_id,
        "model_created": checkpoint.get("created"),
        "exported": datetime.now(UTC).isoformat(timespec="seconds"),
        "app_version": desktop.__version__,
    }


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
    pipeline = build_pipeline(checkpoint)
    write = _torchscript_writer if export_format == "torchscript" else _onnx_writer
    payload = write(pipeline, labels)
    place = atomic_write if overwrite else atomic_create
    for target, data in ((path, payload), (labels_file, _labels_bytes(labels))):
        try:
            place(target, lambda handle, data=data: handle.write(data))
            os.chmod(target, 0o644)  # for other programs to read; atomic writes create private files
        except FileExistsError:  # appeared while the model was being converted
            raise ExportError(f"{target} already exists; choose another name, or replace it on purpose "
                              "(--force).") from None
        except OSError as exc:
            raise ExportError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    return ExportResult(path, labels_file, export_format)


def _labels_bytes(labels: dict[str, Any]) -> bytes:
    return (json.dumps(labels, indent=2, ensure_ascii=False) + "\n").encode()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.jit's deprecation notices and the exporters' warnings are not for our users (``verbose=False``
    keeps the ONNX exporter's progress lines off stdout, where `--json` output goes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _torchscript_writer(pipeline: InferencePipeline, labels: dict[str, Any]) -> bytes:
    size = pipeline.input_size
    with _quiet(), torch.no_grad():
        # The network sees a fixed-size crop, so tracing it is exact (and works for backbones that do not
        # script); the preprocessing around it depends on the image size, so it is scripted.
        traced = torch.jit.trace(pipeline.network, torch.zeros(1, 3, size, size), check_trace=False)
        scripted = torch.jit.script(InferencePipeline(
            traced, input_size=size, resize_size=pipeline.resize_size, interpolation=pipeline.interpolation,
            mean=pipeline.mean.flatten().tolist(), std=pipeline.std.flatten().tolist(),
            class_names=pipeline.class_names))
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer, _extra_files={TORCHSCRIPT_EXTRA: _labels_bytes(labels)})
    return buffer.getvalue()


def _onnx_writer(pipeline: InferencePipeline, labels: dict[str, Any]) -> bytes:
    try:
        import onnx
    except ImportError:
        raise ExportError("Exporting to ONNX needs the onnx and onnxscript packages "
                          "(pip install onnx onnxscript).") from None
    example = torch.zeros(1, pipeline.resize_size, pipeline.resize_size + 1, 3, dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1, max=4096)
    height = torch.export.Dim("height", min=2, max=MAX_SIDE)
    width = torch.export.Dim("width", min=2, max=MAX_SIDE)
    try:
        with _quiet(), torch.no_grad():
            program = torch.onnx.export(pipeline, (example,), None, dynamo=True, external_data=False,
                                        opset_version=ONNX_OPSET, input_names=[INPUT_NAME],
                                        output_names=[OUTPUT_NAME], verbose=False,
                                        dynamic_shapes={"images": {0: batch, 1: height, 2: width}})
    except ImportError as exc:  # onnxscript missing
        raise ExportError(f"Exporting to ONNX needs a package that is not installed ({exc.name}).") from exc
    except Exception as exc:
        raise ExportError(f"The ONNX exporter could not convert this model ({type(exc).__name__}).") from exc
    proto = program.model_proto
    onnx.helper.set_model_props(proto, {ONNX_METADATA_KEY: json.dumps(labels, ensure_ascii=False)})
    proto.doc_string = ("Pigeonhole image classifier: uint8 RGB images (N, H, W, 3) in, softmax probabilities "
                        f"(N, C) out; classes: {', '.join(labels['class_names'])}.")
    return proto.SerializeToString()


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
            raise ExportError(f"{self.path.name} failed while running ({_one_line(exc)}).") from exc
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


def _label_map_from_json(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except RecursionError:
        raise ExportError(f"{where} was refused: it is nested too deeply to be a label map.") from None
    except (ValueError, UnicodeDecodeError):
        raise ExportError(f"{where} is not a label map (not valid JSON).") from None
    return _checked_label_map(info, where)


def _checked_label_map(info: Any, where: str) -> dict[str, Any]:
    """The label map's schema: class names (2 or more short, non-empty strings) and, if given, a sane resize size."""
    names = info.get("class_names") if isinstance(info, dict) else None
    if (not isinstance(names, list) or not 2 <= len(names) <= MAX_CLASSES
            or not all(isinstance(n, str) and 0 < len(n) <= MAX_CLASS_NAME_CHARS for n in names)):
        raise ExportError(f"{where} is not a Pigeonhole label map: “class_names” must list 2 or more names.")
    resize_size = info.get("resize_size")
    if resize_size is not None and not (isinstance(resize_size, int) and not isinstance(resize_size, bool)
                                        and 1 <= resize_size <= 2 * MAX_INPUT_SIZE):
        raise ExportError(f"{where} is not a Pigeonhole label map: “resize_size” is not a sane size.")
    return info


def _sidecar(path: Path) -> dict[str, Any] | None:
    """``<name>.labels.json`` beside the model, if there is one: read like the model (regular file, capped)."""
    labels = labels_path_for(path)
    if not os.path.lexists(labels):
        return None
    try:
        data = read_regular_file(labels, MAX_LABELS_BYTES)
    except FileReadError as exc:
        raise ExportError(str(exc)) from None
    return _label_map_from_json(data, labels.name)


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


def _one_line(exc: BaseException) -> str:
    """An exception as a short phrase: TorchScript and ONNX Runtime errors carry whole tracebacks."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _load_torchscript(path: Path, data: bytes) -> ExportedModel:
    extra = {TORCHSCRIPT_EXTRA: ""}
    try:
        with _quiet():
            module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra)
    except Exception as exc:
        raise ExportError(f"{path.name} is damaged or not a TorchScript model ({_one_line(exc)}).") from exc
    inside = None
    if extra[TORCHSCRIPT_EXTRA]:
        inside = _label_map_from_json(extra[TORCHSCRIPT_EXTRA], f"The label map inside {path.name}")
    elif hasattr(module, "class_names"):
        with contextlib.suppress(TypeError, ValueError):
            inside = _checked_label_map({"class_names": list(module.class_names)}, path.name)
    info = _checked_labels(path, inside)
    module.eval()

    def run(rgb: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(rgb).unsqueeze(0))[0].float().numpy()

    return ExportedModel(path, "torchscript", list(info["class_names"]), info, run)


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
        inside = _label_map_from_json(raw, f"The label map inside {path.name}")
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
            errors.append((image_path, f"could not be decoded ({_one_line(exc)})"))
            continue
        probabilities[index] = model.predict_array(rgb)  # a failing model raises: it would fail on every image
    return list(model.class_names), probabilities, errors
