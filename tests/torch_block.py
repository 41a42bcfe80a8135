"""The CPU build ships without torch: ``PIGEONHOLE_WITHOUT_TORCH=1 pytest tests/torchfree`` (scripts/test does) runs
the torch-free tests with torch unimportable, so a path that quietly starts needing it fails there. Imported by
tests/conftest.py before anything of desktop."""

from __future__ import annotations

import os
import sys

BLOCKED = ("torch", "torchvision", "triton", "onnxscript")

if os.environ.get("PIGEONHOLE_WITHOUT_TORCH") == "1":
    for name in BLOCKED:
        sys.modules[name] = None  # type: ignore[assignment]  # `import torch` raises ModuleNotFoundError
