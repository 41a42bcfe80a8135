"""The built-in backbones as ONNX files, made when the package is built and installed with it: the CPU build (no
torch, so no export) computes features from them, and the full build skips the first-use export.

Where the folder is (the first that applies):

1. ``$PIGEONHOLE_BACKBONES_DIR`` (tests, or an installation that keeps them elsewhere);
2. in a PyInstaller bundle, ``<sys._MEIPASS>/pigeonhole-backbones`` (``_internal/pigeonhole-backbones``; the
   spec copies there the folder ``$PIGEONHOLE_SHIPPED_BACKBONES`` names, packaging/flavours.BACKBONES_FOLDER);
3. none: a source checkout exports on first use, with torch (``onnx_engine``).

Layout, made by ``python -m desktop.ml.shipped FOLDER [NAME ...]`` in the full build (torch and the weights
packages installed; every built-in backbone whose weights are there, by default)::

    FOLDER/manifest.json    {"format": 1, "exporter_version": …, "opset": …, "backbones": {NAME: ENTRY, …}}
    FOLDER/NAME.onnx        the feature extractor: normalised crops (N, 3, S, S) in, pooled features (N, D) out

    ENTRY = {"file": "NAME.onnx", "weights_identity": "blake2b:…" (the pretrained weights' digest, as
             backbones.weights_identity gives it in the full build), "weights_file": the weights' file name,
             "source": "bundled", "feature_dim": D, "input_size": S, "onnx_blake2b": digest of the file's bytes}

Trust: the folder is the installation's, written by the package manager, so its manifest is the reference (as
the data folder's record is for the per-user cache): a file is run only when the blake2b of its bytes matches
its manifest entry, and after it passes ``onnx_rules`` (``onnx_engine`` checks both). A file that does not match
is refused with one sentence, never exported over: the installation is not ours to write.

Reading never imports torch, onnx or the backbone registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from desktop.errors import PigeonholeError
from desktop.io.files import FileReadError, read_regular_file

FOLDER_VARIABLE = "PIGEONHOLE_BACKBONES_DIR"
BUNDLE_FOLDER = "pigeonhole-backbones"  # in a PyInstaller bundle, beside the app's modules (sys._MEIPASS)
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
MAX_MANIFEST_BYTES = 1 << 20


class ShippedFileDamaged(PigeonholeError):
    """A shipped ONNX file is missing, unreadable or differs from its manifest; ``str(error)`` says so."""


@dataclass(frozen=True)
class ShippedBackbone:
    """One backbone's entry in the shipped folder's manifest."""

    name: str
    path: Path  # the ONNX file
    weights_identity: str
    weights_file: str
    source: str
    feature_dim: int
    input_size: int
    onnx_digest: str
    exporter_version: int
    opset: int


def onnx_digest(data: bytes) -> str:
    """The manifest's digest of an ONNX file's bytes."""
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def shipped_folder() -> Path | None:
    """The folder of shipped backbones where there is one (see the module's docstring), else None."""
    named = os.environ.get(FOLDER_VARIABLE)
    if named:
        return Path(named)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle and (Path(bundle) / BUNDLE_FOLDER).is_dir():
        return Path(bundle) / BUNDLE_FOLDER
    return None


def shipped_backbones() -> dict[str, ShippedBackbone]:
    """Every backbone the shipped folder's manifest names (empty without a folder, or with an unreadable
    manifest: the installation then has none, and a later check says so where one is needed)."""
    folder = shipped_folder()
    return dict(_read_manifest(folder)) if folder is not None else {}


def shipped_backbone(name: str) -> ShippedBackbone | None:
    """``name``'s shipped entry, or None."""
    return shipped_backbones().get(name)


@cache
def _read_manifest(folder: Path) -> tuple[tuple[str, ShippedBackbone], ...]:
    """The installation's manifest, read once per process (it changes only with the installation)."""
    try:
        manifest = json.loads(read_regular_file(folder / MANIFEST, MAX_MANIFEST_BYTES))
        if manifest.get("format") != MANIFEST_FORMAT:
            return ()
        exporter, opset = int(manifest["exporter_version"]), int(manifest["opset"])
        entries = []
        for name, entry in manifest["backbones"].items():
            file = str(entry["file"])
            if Path(file).name != file or not file.endswith(".onnx"):
                continue  # a file beside the manifest, nothing else
            entries.append((str(name), ShippedBackbone(
                str(name), folder / file, str(entry["weights_identity"]), str(entry["weights_file"]),
                str(entry.get("source", "bundled")), int(entry["feature_dim"]), int(entry["input_size"]),
                str(entry["onnx_blake2b"]), exporter, opset)))
        return tuple(entries)
    except (FileReadError, ValueError, KeyError, TypeError, AttributeError):
        return ()


def read_shipped_onnx(entry: ShippedBackbone, max_bytes: int) -> bytes:
    """The bytes of ``entry``'s ONNX file, checked against the manifest's digest; ShippedFileDamaged otherwise."""
    try:
        data = read_regular_file(entry.path, max_bytes)
    except FileReadError as exc:
        raise ShippedFileDamaged(f"The built-in file of {entry.name} cannot be read ({exc.reason}): reinstall "
                                 "Pigeonhole.") from None
    if onnx_digest(data) != entry.onnx_digest:
        raise ShippedFileDamaged(f"The built-in file of {entry.name} ({entry.path.name}) differs from the one "
                                 "installed with Pigeonhole (damaged or replaced): reinstall Pigeonhole.")
    return data
