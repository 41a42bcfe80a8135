"""Which engine computes a batch of backbone features, and the fallback between them: ONNX Runtime on a CPU when
the weights' ONNX export loads (``onnx_engine``: faster there), else torch. ONNX Runtime failing on a batch hands
the rest of the run to torch, with a notice; the two agree within ``onnx_engine.FEATURE_TOLERANCE``, so their
features share a cache."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from desktop.ml.backbones import BackboneSpec
from desktop.ml.device import autocast_for, use_channels_last, use_channels_last_for_inference
from desktop.ml.onnx_engine import load_onnx_extractor
from desktop.ml.progress import Cancelled, CancelToken, Notice, ProgressCallback, emit

# ONNX Runtime's batch on a CPU: faster per image than 16 or 32 (bench/onnx_settings_bench.py).
ONNX_BATCH = 8


class FeatureEngine:
    """Runs ``extractor`` (or its ONNX export) over batches of images. Use inside :meth:`prepared`."""

    def __init__(self, extractor: nn.Module, spec: BackboneSpec, device: torch.device, weights_identity: str | None,
                 on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> None:
        self.extractor, self.device, self._on_progress = extractor, device, on_progress
        # Only for exactly these pretrained weights (``weights_identity``): an export is of them, not of a
        # fine-tuned network.
        self._onnx = (load_onnx_extractor(spec, weights_identity, extractor, on_progress=on_progress, cancel=cancel)
                      if weights_identity is not None and device.type == "cpu" else None)
        self._autocast, _ = autocast_for(device)
        self._channels_last = use_channels_last_for_inference(device)

    @property
    def uses_onnx(self) -> bool:
        return self._onnx is not None

    def batch_size(self, wanted: int) -> int:
        return min(wanted, ONNX_BATCH) if self.uses_onnx else wanted

    @contextmanager
    def prepared(self) -> Iterator[FeatureEngine]:
        """The network in evaluation mode on the device, in the memory layout inference runs fastest in; the
        layout training on this device wants is restored afterwards."""
        restore_layout = self._channels_last and not use_channels_last(self.device)
        self.extractor.eval().to(self.device)
        if self._channels_last:
            self.extractor.to(memory_format=torch.channels_last)
        try:
            yield self
        finally:
            if restore_layout:
                self.extractor.to(memory_format=torch.contiguous_format)

    def __call__(self, images: torch.Tensor, cancel: CancelToken | None = None) -> np.ndarray:
        """(batch, views, D) float32 features of ``images`` (batch, views, 3, H, W)."""
        batch, n_views = images.shape[0], images.shape[1]
        flat = images.flatten(0, 1)  # views ride in the batch
        if self._onnx is not None:
            try:
                return self._onnx(flat.numpy(), cancel).reshape(batch, n_views, -1)
            except Cancelled:
                raise
            except Exception as exc:  # ONNX Runtime failed on this batch: torch takes over
                self._onnx = None
                emit(self._on_progress, Notice(f"Fast CPU inference failed ({type(exc).__name__}); continuing "
                                               "with PyTorch."))
        flat = flat.to(self.device, non_blocking=True)
        if self._channels_last:
            flat = flat.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            return self.extractor(flat).float().reshape(batch, n_views, -1).cpu().numpy()
