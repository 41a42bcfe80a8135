"""Run the command line as the CPU build does: torch cannot be imported (what `pigeonhole-cpu` lacks).

    python -m bench.without_torch predict PROJECT     (any arguments of `pigeonhole`)

For benches and by-hand checks from a development checkout; the CPU package itself simply has no torch.
"""

from __future__ import annotations

import sys

BLOCKED = ("torch", "torchvision", "triton", "onnxscript")


def main() -> int:
    for name in BLOCKED:
        sys.modules[name] = None  # type: ignore[assignment]  # `import torch` raises ModuleNotFoundError
    from desktop.cli import main as pigeonhole

    return pigeonhole(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
