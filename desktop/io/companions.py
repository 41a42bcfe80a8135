"""A photo's companions: the files that must travel with it. Its XMP sidecars in both conventions
(``IMG_0001.CR2.xmp`` from darktable and digiKam, ``IMG_0001.xmp`` from Lightroom and Capture One) and the
RAW or JPEG twin of a RAW+JPEG pair (``IMG_0001.CR2`` beside ``IMG_0001.JPG``). Extensions match whatever their
case; every companion shares the photo's stem, so a sort gives it the photo's new stem."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

RAW_SUFFIXES = frozenset({".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
                          ".dng", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".mrw", ".raw"})
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe"})
SIDECAR_SUFFIX = ".xmp"


@dataclass(frozen=True)
class Companion:
    path: Path
    kind: str  # "sidecar" | "twin"

    def suffix_after(self, stem: str) -> str:
        """What follows the shared stem in this companion's name: ``.CR2.xmp`` for IMG_1's IMG_1.CR2.xmp."""
        return self.path.name[len(stem):]


def is_raw(path: Path) -> bool:
    return path.suffix.lower() in RAW_SUFFIXES


def is_sidecar(path: Path) -> bool:
    return path.suffix.lower() == SIDECAR_SUFFIX


class FolderListings:
    """Each folder listed once, its names indexed by what comes before their first dot: a photo's companions all
    begin with its stem, so ``near(photo)`` hands ``companions_of`` only those few names (a folder of N photos
    costs one listing, not N passes over N names)."""

    def __init__(self) -> None:
        self._index: dict[Path, dict[str, list[str]]] = {}

    def near(self, photo: Path) -> list[str]:
        """The names in ``photo``'s folder that share its name's first-dot prefix (its possible companions)."""
        index = self._index.get(photo.parent)
        if index is None:
            index = self._index[photo.parent] = {}
            try:
                names = os.listdir(photo.parent)
            except OSError:
                names = []
            for name in names:
                index.setdefault(_prefix(name), []).append(name)
        return index.get(_prefix(photo.name), [])


def _prefix(name: str) -> str:
    return name.split(".", 1)[0].casefold()


def companions_of(photo: Path, names: list[str] | None = None) -> list[Companion]:
    """The companions of ``photo`` in its folder (``names``: the folder's listing, or ``FolderListings.near``):
    its twin (a JPEG's RAW, a RAW's JPEG), then every sidecar of the photo, of its twin, and of their shared
    stem. Only regular files; never the photo itself."""
    folder, stem = photo.parent, photo.stem
    if names is None:
        try:
            names = os.listdir(folder)
        except OSError:
            return []
    own = photo.suffix.lower()
    twin_kinds = RAW_SUFFIXES if own in JPEG_SUFFIXES else JPEG_SUFFIXES if own in RAW_SUFFIXES else frozenset()
    twins: list[str] = []
    sidecars: list[str] = []
    members = {photo.name.casefold()}
    for name in sorted(names):
        base, dot, ext = name.rpartition(".")
        if not dot or base.casefold() != stem.casefold() or name == photo.name:
            continue
        if f".{ext.lower()}" in twin_kinds:
            twins.append(name)
    members.update(name.casefold() for name in twins)
    for name in sorted(names):
        base, dot, ext = name.rpartition(".")
        if not dot or f".{ext.lower()}" != SIDECAR_SUFFIX:
            continue
        if base.casefold() == stem.casefold() or base.casefold() in members:
            sidecars.append(name)
    found = [Companion(folder / name, "twin") for name in twins]
    found += [Companion(folder / name, "sidecar") for name in sidecars]
    return [companion for companion in found if companion.path.is_file() and not companion.path.is_symlink()]


def sidecars_of(photo: Path, names: list[str] | None = None) -> list[Path]:
    """The photo's own sidecars, ``IMG_1.CR2.xmp`` (its full name) first, then ``IMG_1.xmp``; not its twin's."""
    own = [companion.path for companion in companions_of(photo, names) if companion.kind == "sidecar"
           and companion.path.name[:-len(SIDECAR_SUFFIX)].casefold() in (photo.name.casefold(),
                                                                          photo.stem.casefold())]
    return sorted(own, key=lambda path: path.name[:-len(SIDECAR_SUFFIX)].casefold() != photo.name.casefold())


def preferred_sidecar(photo: Path, names: list[str] | None = None) -> Path:
    """Where a new sidecar for ``photo`` goes: ``IMG_1.CR2.xmp`` (darktable, digiKam), which names one file
    even when a RAW and its JPEG share a stem. An existing sidecar of the photo is used instead."""
    existing = sidecars_of(photo, names)
    return existing[0] if existing else photo.with_name(photo.name + SIDECAR_SUFFIX)
