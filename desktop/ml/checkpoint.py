"""Model files: a versioned dict of plain types plus tensors, written atomically, read without running code.

``torch.load(weights_only=True)`` only rebuilds tensors, dicts, lists, strings and numbers, so a model file
from someone else cannot execute anything when it is opened. Every failure becomes a CheckpointError
whose message a user can read.

Format (``FORMAT_VERSION`` 1)::

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
    state_dict       dict[str, Tensor]   the whole classifier: backbone.* and head.*
    metrics          dict   validation metrics (desktop.ml.engine.ClassificationMetrics.to_dict())
    training         dict   settings, device, duration, history, counts
"""

from __future__ import annotations

import io
import pickle
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import desktop
from desktop.errors import PigeonholeError
from desktop.ml.atomic import atomic_write

FORMAT_VERSION = 1
REQUIRED_KEYS = {
    "format_version": int, "app_version": str, "backbone": str, "class_names": list, "input_size": int,
    "resize_size": int, "mean": list, "std": list, "head": dict, "state_dict": dict, "mode": str,
}
PLAIN_TYPES = (str, int, float, bool, type(None), torch.Tensor)


class CheckpointError(PigeonholeError):
    """The model file cannot be used; ``str(error)`` says why in one sentence."""


def new_checkpoint(**fields: Any) -> dict[str, Any]:
    """A checkpoint dict with the format and producer fields filled in; validates types."""
    checkpoint = {"format_version": FORMAT_VERSION, "app_version": desktop.__version__,
                  "created": datetime.now(UTC).isoformat(timespec="seconds"), **fields}
    validate_checkpoint(checkpoint)
    return checkpoint


def save_checkpoint(path: Path | str, checkpoint: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, fsync, then rename over ``path``."""
    validate_checkpoint(checkpoint)
    atomic_write(Path(path), lambda handle: torch.save(checkpoint, handle))


def checkpoint_bytes(checkpoint: dict[str, Any]) -> bytes:
    """The file contents ``save_checkpoint`` would write (for storing a model inside a database)."""
    validate_checkpoint(checkpoint)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def load_checkpoint(source: Path | str | bytes) -> dict[str, Any]:
    """Read and validate a model file (a path or its bytes); raises CheckpointError, never runs pickled code."""
    name = "the model data" if isinstance(source, bytes) else Path(source).name
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
        checkpoint = torch.load(handle, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"The model file {source} does not exist.") from None
    except IsADirectoryError:
        raise CheckpointError(f"{source} is a folder, not a model file.") from None
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc):
            # weights_only refuses any global it does not know: a hostile file, or one from another program.
            raise CheckpointError(f"{name} was refused: it contains Python objects other than model weights "
                                  "(it may be unsafe, or not a Pigeonhole model).") from exc
        raise CheckpointError(f"{name} is damaged or not a Pigeonhole model (unreadable data).") from exc
    except (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as exc:
        raise CheckpointError(f"{name} is damaged or not a Pigeonhole model ({type(exc).__name__}).") from exc
    validate_checkpoint(checkpoint)
    return checkpoint


def validate_checkpoint(checkpoint: Any) -> None:
    if not isinstance(checkpoint, dict) or "format_version" not in checkpoint:
        raise CheckpointError("This is not a Pigeonhole model file (no format version).")
    version = checkpoint["format_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError("This is not a Pigeonhole model file (bad format version).")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"This model was saved by a newer Pigeonhole (model format {version}; this version "
                              f"reads up to {FORMAT_VERSION}). Update Pigeonhole to use it.")
    if version < 1:
        raise CheckpointError(f"Unknown model format version {version}.")
    for key, kind in REQUIRED_KEYS.items():
        if not isinstance(checkpoint.get(key), kind):
            raise CheckpointError(f"The model file is incomplete: “{key}” is missing or has the wrong type.")
    names = checkpoint["class_names"]
    if len(names) < 2 or not all(isinstance(name, str) for name in names):
        raise CheckpointError("The model file lists no valid class names.")
    if checkpoint["head"].get("num_classes") != len(names):
        raise CheckpointError("The model file is inconsistent: its output size does not match its classes.")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in checkpoint["state_dict"].items()):
        raise CheckpointError("The model file's weights are not a plain dictionary of tensors.")
    _check_plain(checkpoint, "checkpoint")


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
