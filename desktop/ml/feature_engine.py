"""Which engine computes a batch of backbone features, and the fallback between them: ONNX Runtime on a CPU when
the weights' ONNX file loads (``onnx_engine``: faster there), else torch. ONNX Runtime failing on a batch hands
the rest of the run to torch, with a notice; the two agree within ``onnx_engine.FEATURE_TOLERANCE``, so their
features share a cache.

Without a torch module (``extractor`` None: the CPU build, which has no torch) ONNX Runtime is the only engine:
the backbone's shipped ONNX file (``shipped``) or one exported earlier on this computer; where it cannot be
used, or fails on a batch, ``FeaturesUnavailable`` says why in one sentence. torch is imported only when a
torch module is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop.ml.backbones import BackboneSpec
from desktop.ml.onnx_engine import FeaturesUnavailable, load_onnx_extractor, require_onnx_extractor
from desktop.progress import Cancelled, CancelToken, Notice, ProgressCallback, emit

if TYPE_CHECKING:
    import torch
    from torch import nn

# ONNX Runtime's batch on a CPU: faster per image than 16 or 32 (bench/onnx_settings_bench.py).
ONNX_BATCH = 8


class FeatureEngine:
    """Runs ``extractor`` (or its ONNX export) over batches of images. Use inside :meth:`prepared`.

    ``extractor`` None: ONNX Runtime only, on the CPU (``device`` is then ignored); ``weights_identity`` is
    required and FeaturesUnavailable is raised here when no ONNX file of these weights can run."""

    def __init__(self, extractor: nn.Module | None, spec: BackboneSpec, device: torch.device | None,
                 weights_identity: str | None, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> None:
        self.extractor, self._spec, self._on_progress = extractor, spec, on_progress
        self.device = device if extractor is not None else None  # None: the CPU, no torch
        if extractor is None:
            self._onnx = require_onnx_extractor(spec, weights_identity, on_progress=on_progress, cancel=cancel)
            return
        from desktop.ml.device import autocast_for, use_channels_last_for_inference

        # Only for exactly these pretrained weights (``weights_identity``): an export is of them, not of a
        # fine-tuned network.
        self._onnx = (load_onnx_extractor(spec, weights_identity, extractor, on_progress=on_progress, cancel=cancel)
                      if weights_identity is not None and (device is None or device.type == "cpu") else None)
        self._autocast, _ = autocast_for(self.torch_device)
        self._channels_last = use_channels_last_for_inference(self.torch_device)

    @property
    def torch_device(self) -> torch.device:
        import torch

        return self.device if self.device is not None else torch.device("cpu")

    @property
    def uses_onnx(self) -> bool:
        return self._onnx is not None

    def batch_size(self, wanted: int) -> int:
        return min(wanted, ONNX_BATCH) if self.uses_onnx else wanted

    @contextmanager
    def prepared(self) -> Iterator[FeatureEngine]:
        """The network in evaluation mode on the device, in the memory layout inference runs fastest in; the
        layout training on this device wants is restored afterwards. Nothing to prepare without torch."""
        if self.extractor is None:
            yield self
            return
        import torch

        from desktop.ml.device import use_channels_last

        device = self.torch_device
        restore_layout = self._channels_last and not use_channels_last(device)
        self.extractor.eval().to(device)
        if self._channels_last:
            self.extractor.to(memory_format=torch.channels_last)
        try:
            yield self
        finally:
            if restore_layout:
                self.extractor.to(memory_format=torch.contiguous_format)

    def __call__(self, images: Any, cancel: CancelToken | None = None) -> np.ndarray:
        """(batch, views, D) float32 features of ``images`` (batch, views, 3, H, W): a numpy array (the CPU's
        batches) or a tensor (a DataLoader's)."""
        batch, n_views = images.shape[0], images.shape[1]
        if self._onnx is not None:
            try:  # views ride in the batch
                flat = np.asarray(images).reshape(batch * n_views, *images.shape[2:])
                return self._onnx(flat, cancel).reshape(batch, n_views, -1)
            except Cancelled:
                raise
            except Exception as exc:  # ONNX Runtime failed on this batch: torch takes over, where there is torch
                if self.extractor is None:
                    raise FeaturesUnavailable(
                        f"Computing the features of {self._spec.display_name} failed in ONNX Runtime "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no detail'}), "
                        "and this build of Pigeonhole has no other engine.") from exc
                self._onnx = None
                emit(self._on_progress, Notice(f"Fast CPU inference failed ({type(exc).__name__}); continuing "
                                               "with PyTorch."))
        return self._torch_features(images, batch, n_views)

    def _torch_features(self, images: Any, batch: int, n_views: int) -> np.ndarray:
        import torch

        flat = torch.as_tensor(images).flatten(0, 1).to(self.torch_device, non_blocking=True)
        if self._channels_last:
            flat = flat.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            return self.extractor(flat).float().reshape(batch, n_views, -1).cpu().numpy()
