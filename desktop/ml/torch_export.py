"""The full build's model exports, in torch: the eager inference pipeline (preprocessing written in tensor
operations, the network, softmax), TorchScript files, and torch's ONNX exporter for models that are not frozen
(a frozen model's ONNX file is built without torch: ``frozen_onnx``). Loading a TorchScript file, only trusted.
``desktop.ml.export`` describes the files and calls this module only in the full build."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from desktop.ml.export_format import (
    INPUT_NAME,
    INTERPOLATIONS,
    MAX_SIDE,
    ONNX_OPSET,
    OUTPUT_NAME,
    TORCHSCRIPT_EXTRA,
    ExportError,
    labels_bytes,
    one_line,
    stamp_labels,
)
from desktop.ml.predict import Predictor


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


def build_pipeline(predictor: Predictor) -> InferencePipeline:
    """The eager pipeline of a model loaded on the CPU, in eval mode."""
    spec = predictor.spec
    model = predictor.model.eval().to(memory_format=torch.contiguous_format)
    return InferencePipeline(model, input_size=spec.input_size, resize_size=spec.resize_size,
                             interpolation=spec.interpolation, mean=spec.mean, std=spec.std,
                             class_names=predictor.class_names).eval()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.jit's deprecation notices and the exporters' warnings are not for our users (``verbose=False``
    keeps the ONNX exporter's progress lines off stdout, where `--json` output goes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def torchscript_bytes(pipeline: InferencePipeline, labels: dict[str, Any]) -> bytes:
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
        torch.jit.save(scripted, buffer, _extra_files={TORCHSCRIPT_EXTRA: labels_bytes(labels)})
    return buffer.getvalue()


def torch_onnx_bytes(pipeline: InferencePipeline, labels: dict[str, Any]) -> bytes:
    try:
        import onnx  # noqa: F401  (the exporter needs it; said here in one sentence)
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
    stamp_labels(proto, labels)
    return proto.SerializeToString()


def load_torchscript(name: str, data: bytes) -> tuple[Any, str]:
    """A TorchScript file's module, on the CPU in eval mode, and the label map text stored inside ("" if none);
    the caller has decided to trust the file."""
    extra = {TORCHSCRIPT_EXTRA: ""}
    try:
        with _quiet():
            module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra)
    except Exception as exc:
        raise ExportError(f"{name} is damaged or not a TorchScript model ({one_line(exc)}).") from exc
    return module.eval(), extra[TORCHSCRIPT_EXTRA]


def run_torchscript(module: Any, rgb: Any) -> Any:
    """Probabilities (C,) of a loaded TorchScript export for one uint8 (H, W, 3) numpy image."""
    with torch.inference_mode():
        return module(torch.from_numpy(rgb).unsqueeze(0))[0].float().numpy()
