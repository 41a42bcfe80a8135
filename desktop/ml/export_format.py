"""What an exported model file is, shared by both builds: the names of its input and output, where its label map
lives and what a label map must hold, the one error type (``desktop.ml.export`` describes the file). No torch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import desktop
from desktop.errors import PigeonholeError
from desktop.ml.checkpoint import MAX_CLASS_NAME_CHARS, MAX_CLASSES, MAX_FILE_BYTES, MAX_INPUT_SIZE

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


def labels_bytes(labels: dict[str, Any]) -> bytes:
    return (json.dumps(labels, indent=2, ensure_ascii=False) + "\n").encode()


def label_map_from_json(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except RecursionError:
        raise ExportError(f"{where} was refused: it is nested too deeply to be a label map.") from None
    except (ValueError, UnicodeDecodeError):
        raise ExportError(f"{where} is not a label map (not valid JSON).") from None
    return checked_label_map(info, where)


def checked_label_map(info: Any, where: str) -> dict[str, Any]:
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


def one_line(exc: BaseException) -> str:
    """An exception as a short phrase: TorchScript and ONNX Runtime errors carry whole tracebacks."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def stamp_labels(model: Any, labels: dict[str, Any]) -> None:
    """Put the label map into an ONNX ``ModelProto``'s metadata, and a line for people into its doc string."""
    import onnx

    onnx.helper.set_model_props(model, {ONNX_METADATA_KEY: json.dumps(labels, ensure_ascii=False)})
    model.doc_string = ("Pigeonhole image classifier: uint8 RGB images (N, H, W, 3) in, softmax probabilities "
                        f"(N, C) out; classes: {', '.join(labels['class_names'])}.")
