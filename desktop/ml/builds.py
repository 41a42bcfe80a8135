"""Which build of Pigeonhole this is: the full one (with PyTorch: fine-tuning, CUDA/MPS, every backbone) or the
CPU one (``pigeonhole-cpu``: ONNX Runtime and numpy only, a tenth of the size). One place asks, one sentence says
what the CPU build cannot do.

Asking never imports torch (``find_spec`` only looks), so the everyday CPU path stays as light as the CPU build.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache

from desktop.errors import PigeonholeError

FULL_PACKAGE, CPU_PACKAGE = "pigeonhole", "pigeonhole-cpu"


class FullBuildRequired(PigeonholeError):
    """What was asked needs PyTorch, which the CPU build leaves out; ``str(error)`` says so in one sentence."""


@cache
def _torch_found() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a blocked or broken torch counts as absent
        return False


def torch_installed() -> bool:
    """True in the full build: torch can be imported (it may not be yet). Honours a test's import block:
    ``sys.modules["torch"] = None`` makes ``import torch`` fail, so it counts as absent."""
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None
    return _torch_found()


def build_name() -> str:
    """"full" or "CPU", as the About box and ``--version`` say it."""
    return "full" if torch_installed() else "CPU"


def full_build_required(what: str) -> FullBuildRequired:
    """The error for ``what`` (a phrase starting with a capital: "Fine-tuning") in the CPU build."""
    return FullBuildRequired(f"{what} needs the full build of Pigeonhole (with PyTorch): this is the CPU build; "
                             f"install the “{FULL_PACKAGE}” package instead of “{CPU_PACKAGE}”.")


def require_torch(what: str) -> None:
    """Raise FullBuildRequired for ``what`` unless torch is installed."""
    if not torch_installed():
        raise full_build_required(what)
