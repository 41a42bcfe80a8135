"""Debian's Fashion-MNIST (package dataset-fashion-mnist) as arrays or as a class_name/image.png folder tree."""

from __future__ import annotations

import gzip
from pathlib import Path

import cv2
import numpy as np

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")


def available() -> bool:
    return (DATA_DIR / "train-images-idx3-ubyte.gz").is_file()


def load(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) for ``split`` "train" or "t10k"."""
    with gzip.open(DATA_DIR / f"{split}-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), dtype=np.uint8, offset=8)
    with gzip.open(DATA_DIR / f"{split}-images-idx3-ubyte.gz") as handle:
        images = np.frombuffer(handle.read(), dtype=np.uint8, offset=16).reshape(len(labels), 28, 28)
    return images, labels


def pick(per_class: int, split: str = "train", offset: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` images of each class, chosen reproducibly; ``offset`` skips earlier picks."""
    images, labels = load(split)
    order = np.random.default_rng(seed).permutation(len(labels))
    chosen = np.concatenate([order[labels[order] == c][offset : offset + per_class] for c in range(10)])
    return images[chosen], labels[chosen]


def write_folder(dest: Path, per_class: int, *, size: int = 96, split: str = "train", offset: int = 0,
                 classes: int = 10, subfolders: bool = True) -> list[tuple[Path, str]]:
    """Write PNGs (upscaled to ``size`` px) as dest/class_name/NNNN.png; returns (path, class name) pairs."""
    images, labels = pick(per_class, split, offset)
    written = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        if label >= classes:
            continue
        name = CLASS_NAMES[label]
        folder = dest / name if subfolders else dest
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name.replace(' ', '_')}_{offset + i:05d}.png"
        cv2.imwrite(str(path), cv2.resize(255 - image, (size, size), interpolation=cv2.INTER_CUBIC))
        written.append((path, name))
    return written
