"""Model files: a versioned dict of plain types plus numpy arrays, written atomically, read without running code.

A model file is PyTorch's format (what ``torch.save`` writes, so torch reads it with ``weights_only=True``), read
and written here without torch (``torch_zip``): the reader only rebuilds arrays, dicts, lists, strings and
numbers, so a model file from someone else cannot execute anything when it is opened. Before it is unpickled, the
file must be a regular file of at most ``MAX_FILE_BYTES`` and a zip archive (not a TorchScript program) whose
entries unpack to at most ``MAX_UNPACKED_BYTES``; after, every field's type and range is checked
(``validate_checkpoint``), and strings that become file names (``feature_key``, ``weights``) must look like the
names Pigeonhole makes. Every failure becomes a CheckpointError whose message a user can read.

Format (``FORMAT_VERSION`` 2; version 1 files, whose frozen models also hold backbone.*, are read too)::

    format_version   int    bumped on any incompatible change; newer files are refused
    app_version      str    Pigeonhole version that wrote the file
    created          str    ISO 8601, UTC
    backbone         str    registry name (desktop.ml.backbones)
    weights          dict   {"source": "bundled"|"downloaded"|"none", "file": str|None, "identity": str|None}
    class_names      list[str]   in output order
    input_size, resize_size, interpolation, mean, std   preprocessing the model expects
    head             dict   {"in_features": int, "num_classes": int, "dropout": float}
    mode             str    "frozen" (backbone = pretrained weights) or "finetune"
    feature_key      str|None    feature-cache folder usable by a predictor (frozen mode only)
    state_dict       dict[str, ndarray]  frozen mode: head.* only (the backbone is the pretrained one that
                                         ``weights.identity`` names); fine-tuned: backbone.* and head.*
    metrics          dict   validation metrics (desktop.ml.metrics.ClassificationMetrics.to_dict())
    training         dict   how the run went: desktop.ml.train_record.TrainingRecord.as_dict() (options as
                            resolved, device, duration, counts, evaluation, stage, history, unreadable photos, folds)
    temperature      float  > 0, already folded into the head (1.0: calibration not kept)
    calibration      dict   train_record.calibration_record: the fit (kept, log-loss and ECE before and after),
                            ``ece``, ``ece_uncalibrated`` and the reliability diagram
    precision_thresholds  dict[str, list[float|None]]  per stored precision ("0.95"), one threshold per class
    out_of_fold      dict   {"evaluation": str, "probabilities": ndarray (N, classes), "labels": ndarray (N,)}:
                            the calibrated held-out predictions the metrics and thresholds come from
"""

from __future__ import annotations

import io
import math
import os
import pickle
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import desktop
from desktop.errors import PigeonholeError
from desktop.io.files import FileReadError, describe_size, read_regular_file
from desktop.io.safe_files import atomic_write
from desktop.ml import torch_zip
from desktop.ml.options import TRAINED_MODES, InvalidTrainingOptions, TrainingOptions

FORMAT_VERSION = 2
REQUIRED_KEYS = {
    "format_version": int, "app_version": str, "backbone": str, "class_names": list, "input_size": int,
    "resize_size": int, "mean": list, "std": list, "head": dict, "state_dict": dict, "mode": str,
}
OPTIONAL_KEYS = {"created": str, "weights": dict, "interpolation": str, "feature_key": str, "metrics": dict,
                 "training": dict, "temperature": (int, float), "calibration": dict, "precision_thresholds": dict,
                 "out_of_fold": dict}
PLAIN_TYPES = (str, int, float, bool, type(None), np.ndarray)
ARRAY_KINDS = "biuf"  # numpy dtype kinds a weight may have: bool, integers, floats (never objects or complex)
INTERPOLATIONS = ("bilinear", "bicubic")  # what eval_transform and the exported pipeline both do
HEAD_WEIGHT, HEAD_BIAS = "head.linear.weight", "head.linear.bias"
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 16, 1024
MAX_FEATURES = 1 << 16
MAX_CLASSES = 10_000
MAX_CLASS_NAME_CHARS = 1000
# The largest registered backbone, fine-tuned, saves ~100 MB (ResNet-50); the format stores tensors
# uncompressed, so what a file unpacks to is about its size. Anything far above is not ours.
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
MAX_PICKLE_BYTES = 64 * 1024 * 1024  # names, metrics and history: kilobytes in practice
FEATURE_KEY = re.compile(r"[a-z0-9_]{1,64}-[0-9a-f]{20}")  # desktop.ml.features.feature_key
WEIGHTS_IDENTITY = re.compile(r"[a-z0-9]{1,16}:[0-9a-f]{16,128}")  # desktop.ml.backbones.weights_identity
SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}")


class CheckpointError(PigeonholeError):
    """The model file cannot be used; ``str(error)`` says why in one sentence."""


def new_checkpoint(**fields: Any) -> dict[str, Any]:
    """A checkpoint dict with the format and producer fields filled in; validates types."""
    checkpoint = {"format_version": FORMAT_VERSION, "app_version": desktop.__version__,
                  "created": datetime.now(UTC).isoformat(timespec="seconds"), **fields}
    validate_checkpoint(checkpoint)
    return checkpoint


def training_options(checkpoint: dict[str, Any]) -> TrainingOptions | None:
    """The options the model was trained with: ``training["options"]``, or in older files ``training["config"]``
    (``lr`` for the learning rate, the mode as asked for); None when the file records none that are valid."""
    training = checkpoint.get("training") or {}
    stored = training.get("options", training.get("config"))
    if not isinstance(stored, dict):
        return None
    try:
        return TrainingOptions.from_dict(stored)
    except InvalidTrainingOptions:
        return None


def save_checkpoint(path: Path | str, checkpoint: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, fsync, then rename over ``path``."""
    validate_checkpoint(checkpoint)
    atomic_write(Path(path), lambda handle: torch_zip.dump(checkpoint, handle))


def checkpoint_bytes(checkpoint: dict[str, Any]) -> bytes:
    """The file contents ``save_checkpoint`` would write (for storing a model inside a database)."""
    validate_checkpoint(checkpoint)
    return torch_zip.dumps(checkpoint)


def load_checkpoint(source: Path | str | bytes, *, name: str | None = None) -> dict[str, Any]:
    """Read and validate a model file (a path or its bytes); raises CheckpointError, never runs pickled code.

    A path is read only if it is a regular file of at most MAX_FILE_BYTES (a pipe would block, a link to
    /dev/zero never end), and the archive's stated sizes are checked before anything is unpacked. ``name``:
    what messages call the file (bytes read elsewhere).
    """
    name = name or ("the model data" if isinstance(source, bytes) else Path(source).name)
    data = source if isinstance(source, bytes) else read_model_file(Path(source))
    if len(data) > MAX_FILE_BYTES:
        raise CheckpointError(f"{name} was refused: it is larger than any Pigeonhole model "
                              f"({describe_size(len(data))}, the limit is {describe_size(MAX_FILE_BYTES)}).")
    check_archive(data, name)
    try:
        checkpoint = torch_zip.loads(data, max_bytes=MAX_UNPACKED_BYTES)
        validate_checkpoint(checkpoint)
    except CheckpointError:
        raise
    except torch_zip.UnsupportedTensor as exc:
        raise CheckpointError(f"{name} was refused: a weight in it is not a plain dense tensor (sparse, quantized "
                              "or complex), which a Pigeonhole model never holds.") from exc
    except torch_zip.TooLarge as exc:
        raise CheckpointError(f"{name} was refused: its contents are nested too deeply or are too large "
                              "to be a Pigeonhole model.") from exc
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc):
            # The reader refuses any global it does not know: a hostile file, or one from another program.
            raise CheckpointError(f"{name} was refused: it contains Python objects other than model weights "
                                  "(it may be unsafe, or not a Pigeonhole model).") from exc
        raise CheckpointError(f"{name} is damaged or not a Pigeonhole model (unreadable data).") from exc
    except (RecursionError, MemoryError) as exc:  # nested 100,000 deep, or a list that holds itself
        raise CheckpointError(f"{name} was refused: its contents are nested too deeply or are too large "
                              "to be a Pigeonhole model.") from exc
    except Exception as exc:  # a damaged archive or pickle fails in many ways (zip, EOF, struct, key errors)
        raise CheckpointError(f"{name} is damaged or not a Pigeonhole model ({type(exc).__name__}).") from exc
    return checkpoint


def read_model_file(path: Path, max_bytes: int | None = None,
                    error: type[PigeonholeError] = CheckpointError) -> bytes:
    """The whole file, read once (what is checked is what runs): a regular file of at most ``max_bytes``
    (default MAX_FILE_BYTES), else ``error`` with one sentence. Shared by checkpoints and exported models."""
    try:
        return read_regular_file(path, MAX_FILE_BYTES if max_bytes is None else max_bytes)
    except FileReadError as exc:
        if not os.path.lexists(path):
            raise error(f"The model file {path} does not exist.") from None
        if path.is_dir():
            raise error(f"{path} is a folder, not a model file.") from None
        raise error(str(exc)) from None  # "Cannot read PATH: this is a named pipe (FIFO), not a ..."


def check_archive(data: bytes, name: str) -> None:
    """Refuse, before it is unpacked, what cannot be a checkpoint: not a zip (torch's legacy format sizes its
    tensors from the pickle, not from the file), a TorchScript program, or stated sizes that would unpack to
    more than MAX_UNPACKED_BYTES (a 16 MB file of zeros can claim 3 GB of tensors: a zip bomb)."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if data[:1] == b"\x80":  # a bare pickle (protocol 2+): not what torch.save writes today
            raise CheckpointError(f"{name} was refused: it is a bare Python pickle, not a Pigeonhole model file.")
        raise CheckpointError(f"{name} is damaged or not a Pigeonhole model (not a model archive).")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{name} is damaged or not a Pigeonhole model ({type(exc).__name__}).") from exc
    names = [entry.filename for entry in entries]
    if any("/code/" in entry or entry.endswith("/constants.pkl") for entry in names):
        raise CheckpointError(f"{name} was refused: it is a TorchScript program, not a Pigeonhole model "
                              "(which holds only weights).")
    _refuse_large_unpacking(entries, name)
    pickles = [entry for entry in entries if entry.filename.endswith("/data.pkl")]
    if any(entry.file_size > MAX_PICKLE_BYTES for entry in pickles):
        raise CheckpointError(f"{name} was refused: its description part is far larger than a Pigeonhole "
                              "model's.")


def refuse_zip_bomb(data: bytes, name: str) -> None:
    """For torch's zip format (any weights file, not only ours): refuse stated sizes above MAX_UNPACKED_BYTES
    before torch.load allocates them. Other formats pass; a damaged archive is left for torch.load to report."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        return
    _refuse_large_unpacking(entries, name)


def _refuse_large_unpacking(entries: list[zipfile.ZipInfo], name: str) -> None:
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > MAX_UNPACKED_BYTES:
        raise CheckpointError(f"{name} was refused: it would unpack to {describe_size(unpacked)}, more than any "
                              f"Pigeonhole model ({describe_size(MAX_UNPACKED_BYTES)}; possibly a zip bomb).")


def validate_checkpoint(checkpoint: Any) -> None:
    """Every field of a checkpoint has its type and a sane value; else CheckpointError naming the field."""
    if not isinstance(checkpoint, dict) or "format_version" not in checkpoint:
        raise CheckpointError("This is not a Pigeonhole model file (no format version).")
    version = checkpoint["format_version"]
    if not _is_int(version):
        raise CheckpointError("This is not a Pigeonhole model file (bad format version).")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"This model was saved by a newer Pigeonhole (model format {version}; this version "
                              f"reads up to {FORMAT_VERSION}). Update Pigeonhole to use it.")
    if version < 1:
        raise CheckpointError(f"Unknown model format version {version}.")
    for key, kind in REQUIRED_KEYS.items():
        value = checkpoint.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CheckpointError(f"The model file is incomplete: “{key}” is missing or has the wrong type.")
    for key, kind in OPTIONAL_KEYS.items():
        if checkpoint.get(key) is not None and not isinstance(checkpoint[key], kind):
            raise CheckpointError(f"The model file is damaged: “{key}” has the wrong type.")
    _check_classes(checkpoint["class_names"])
    _check_preprocessing(checkpoint)
    if checkpoint["mode"] not in TRAINED_MODES:
        raise CheckpointError(f"The model file is damaged: “mode” must be one of {', '.join(TRAINED_MODES)}.")
    _check_weights_and_cache_names(checkpoint)
    head = checkpoint["head"]
    in_features, num_classes = head.get("in_features"), head.get("num_classes")
    if not _is_int(in_features) or not 1 <= in_features <= MAX_FEATURES:
        raise CheckpointError("The model file is damaged: “head.in_features” is not a sane feature size.")
    if num_classes != len(checkpoint["class_names"]):
        raise CheckpointError("The model file is inconsistent: its output size does not match its classes.")
    dropout = head.get("dropout", 0.0)
    if not _is_number(dropout) or not 0.0 <= dropout < 1.0:
        raise CheckpointError("The model file is damaged: “head.dropout” must be a number from 0 to 1.")
    _check_state_dict(checkpoint["state_dict"], in_features, num_classes)
    _check_calibration_fields(checkpoint, num_classes)
    _check_plain(checkpoint, "checkpoint")


def _check_calibration_fields(checkpoint: dict[str, Any], num_classes: int) -> None:
    """The sort reads these without a second look: a temperature that divides, thresholds per class, held-out
    predictions as many as their labels, one column per class."""
    temperature = checkpoint.get("temperature")
    if temperature is not None and not (_is_number(temperature) and temperature > 0):
        raise CheckpointError("The model file is damaged: “temperature” must be a positive number.")
    for precision, values in (checkpoint.get("precision_thresholds") or {}).items():
        if not isinstance(values, list) or len(values) != num_classes or \
                not all(value is None or _is_number(value) for value in values):
            raise CheckpointError(f"The model file is damaged: its thresholds for precision {str(precision)[:20]} "
                                  "are not one number per class.")
    held_out = checkpoint.get("out_of_fold")
    if held_out is None:
        return
    probabilities, labels = held_out.get("probabilities"), held_out.get("labels")
    if not isinstance(probabilities, np.ndarray) or not isinstance(labels, np.ndarray) or labels.ndim != 1:
        raise CheckpointError("The model file is damaged: its held-out predictions do not match its classes.")
    if len(labels) and probabilities.shape != (len(labels), num_classes):  # none: a run with no held-out photo
        raise CheckpointError("The model file is damaged: its held-out predictions do not match its classes.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_classes(names: list[Any]) -> None:
    if not 2 <= len(names) <= MAX_CLASSES or not all(isinstance(name, str) and name for name in names):
        raise CheckpointError("The model file lists no valid class names (“class_names” must be 2 or more "
                              "non-empty names).")
    if any(len(name) > MAX_CLASS_NAME_CHARS for name in names):
        raise CheckpointError(f"The model file is damaged: a name in “class_names” is longer than "
                              f"{MAX_CLASS_NAME_CHARS} characters.")


def _check_preprocessing(checkpoint: dict[str, Any]) -> None:
    input_size, resize_size = checkpoint["input_size"], checkpoint["resize_size"]
    if not MIN_INPUT_SIZE <= input_size <= MAX_INPUT_SIZE:
        raise CheckpointError(f"The model file is damaged: “input_size” {input_size} is outside "
                              f"{MIN_INPUT_SIZE}–{MAX_INPUT_SIZE}.")
    if not input_size <= resize_size <= 2 * MAX_INPUT_SIZE:
        raise CheckpointError("The model file is damaged: “resize_size” must be at least “input_size” and at "
                              f"most {2 * MAX_INPUT_SIZE}.")
    if checkpoint.get("interpolation", INTERPOLATIONS[0]) not in INTERPOLATIONS:
        raise CheckpointError(f"The model file is damaged: “interpolation” must be one of "
                              f"{', '.join(INTERPOLATIONS)}.")
    for key in ("mean", "std"):
        values = checkpoint[key]
        if len(values) != 3 or not all(_is_number(v) for v in values):
            raise CheckpointError(f"The model file is damaged: “{key}” must be three numbers (red, green, blue).")
    if not all(v > 0 for v in checkpoint["std"]):
        raise CheckpointError("The model file is damaged: “std” must be positive.")


def _check_weights_and_cache_names(checkpoint: dict[str, Any]) -> None:
    """These strings become file and folder names (feature cache, exported backbone): nothing path-like."""
    key = checkpoint.get("feature_key")
    if key is not None and not (isinstance(key, str) and FEATURE_KEY.fullmatch(key)):
        raise CheckpointError("The model file is damaged: “feature_key” is not a feature-cache name.")
    weights = checkpoint.get("weights")
    if weights is None:
        return
    identity, file = weights.get("identity"), weights.get("file")
    if identity is not None and not (isinstance(identity, str) and WEIGHTS_IDENTITY.fullmatch(identity)):
        raise CheckpointError("The model file is damaged: “weights.identity” is not a weights digest.")
    if file is not None and not (isinstance(file, str) and SAFE_FILE_NAME.fullmatch(file)):
        raise CheckpointError("The model file is damaged: “weights.file” is not a plain file name.")


def _check_state_dict(state_dict: dict[Any, Any], in_features: int, num_classes: int) -> None:
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            raise CheckpointError("The model file's weights are not a plain dictionary of tensors.")
        if value.dtype.kind not in ARRAY_KINDS:
            # Objects or complex numbers are not what a Pigeonhole model holds.
            raise CheckpointError(f"The model file is damaged: weight “{key}” is not a plain dense tensor.")
    expected = {HEAD_WEIGHT: (num_classes, in_features), HEAD_BIAS: (num_classes,)}
    for key, shape in expected.items():
        value = state_dict.get(key)
        if value is None or tuple(value.shape) != shape:
            raise CheckpointError(f"The model file is inconsistent: weight “{key}” does not have the shape "
                                  f"its head needs {shape}.")


def _check_plain(value: Any, where: str) -> None:
    """Only plain types, so the file stays loadable with weights_only=True and by other tools."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise CheckpointError(f"{where} has a key of type {type(key).__name__}; only plain types are allowed.")
            _check_plain(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
    elif not isinstance(value, PLAIN_TYPES):
        raise CheckpointError(f"{where} is a {type(value).__name__}; only plain types are allowed in a model file.")
    elif isinstance(value, np.ndarray) and value.dtype.kind not in ARRAY_KINDS:
        raise CheckpointError(f"{where} is an array of {value.dtype}; only numbers and booleans are allowed in a "
                              "model file.")
