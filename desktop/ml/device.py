"""Which device to compute on, and the mixed-precision and memory-layout choices that go with it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import torch

from desktop.errors import PigeonholeError
from desktop.ml.options import DEVICES


class DeviceUnavailable(PigeonholeError, RuntimeError):
    pass


def resolve_device(preference: str = "auto") -> torch.device:
    """"auto" picks CUDA, then Apple's MPS, then the CPU; an explicit choice that is missing is an error."""
    if preference not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {preference!r}")
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if preference == "cuda" and not cuda:
        raise DeviceUnavailable("No usable NVIDIA GPU (CUDA) was found; choose “auto” or “CPU”.")
    if preference == "mps" and not mps:
        raise DeviceUnavailable("Apple's GPU (MPS) is not available on this machine; choose “auto” or “CPU”.")
    return torch.device(preference)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"


AutocastFactory = Callable[[], contextlib.AbstractContextManager]
T = TypeVar("T")


def autocast_for(device: torch.device) -> tuple[AutocastFactory, torch.amp.GradScaler | None]:
    """Autocast context factory and gradient scaler, timm-style.

    Mixed precision only on CUDA: bf16 where supported (needs no scaler), otherwise fp16 with a GradScaler.
    MPS and CPU stay in fp32: fp16 without loss scaling underflows, and CPU bf16 is slower on most laptops.
    """
    if device.type != "cuda":
        return contextlib.nullcontext, None
    if torch.cuda.is_bf16_supported():
        return partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16), None
    return partial(torch.autocast, device_type="cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def use_channels_last(device: torch.device) -> bool:
    # Tensor cores want NHWC; on CPU and MPS the gain is inconsistent, so keep the default layout there.
    return device.type == "cuda"


def use_channels_last_for_inference(device: torch.device) -> bool:
    # Forward passes without gradients (features, predictions) on a CPU: oneDNN convolutions run NHWC natively;
    # EfficientNet-Lite0 on two cores is 1.4x faster (bench/README.md). Training keeps use_channels_last.
    return device.type in ("cuda", "cpu")


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def halving_batches(attempt: Callable[[int], T], batch_size: int, device: torch.device,
                    on_halved: Callable[[int], None]) -> T:
    """``attempt(batch_size)``; when the GPU runs out of memory, ``on_halved(smaller)`` and the attempt again
    with half the batch, down to one image. A CPU's or any other error, or running out with batches of one,
    is raised. ``attempt`` carries on from where the failed one stopped (what it finished, it keeps)."""
    while True:
        try:
            return attempt(batch_size)
        except Exception as exc:
            if device.type == "cpu" or not is_out_of_memory(exc) or batch_size == 1:
                raise
            batch_size = max(1, batch_size // 2)
            empty_cache(device)
            on_halved(batch_size)


def empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
