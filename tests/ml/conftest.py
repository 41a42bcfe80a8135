"""Fixtures for the ML tests: small labelled image sets written as real files, and an offline torch hub.

The images are tiny (64-96 px) drawings of three visually distinct classes (discs, stripes, checkerboards)
with random colours, positions and noise, so a pretrained backbone separates them easily but not trivially.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from imagemakers import SHAPE_CLASSES, draw_shape, write_rgb

CLASS_NAMES = SHAPE_CLASSES
PER_CLASS = 15
VAL_PER_CLASS = 4


def file_hash(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class ImageSet:
    root: Path
    class_names: tuple[str, ...]
    paths: list[Path]
    labels: list[int]
    splits: list[str]

    def items(self):
        from desktop.ml.train_record import TrainItem

        return [TrainItem(path, file_hash(path), label, split)
                for path, label, split in zip(self.paths, self.labels, self.splits, strict=True)]


def make_image_set(root: Path, per_class: int = PER_CLASS, val_per_class: int = VAL_PER_CLASS,
                   seed: int = 0) -> ImageSet:
    rng = np.random.default_rng(seed)
    paths, labels, splits = [], [], []
    for label, kind in enumerate(CLASS_NAMES):
        for index in range(per_class):
            size = int(rng.integers(64, 97))
            suffix = ".jpg" if index % 3 else ".png"
            path = root / kind / f"{kind}_{index:02d}{suffix}"
            write_rgb(path, draw_shape(kind, rng, size))
            paths.append(path)
            labels.append(label)
            splits.append("val" if index < val_per_class else "train")
    return ImageSet(root, CLASS_NAMES, paths, labels, splits)


@pytest.fixture(scope="session")
def image_set(tmp_path_factory: pytest.TempPathFactory) -> ImageSet:
    """3 classes × 15 images (4 of each for validation), shared by the whole session: do not modify."""
    return make_image_set(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="session")
def small_image_set(tmp_path_factory: pytest.TempPathFactory) -> ImageSet:
    """3 classes × 5 images (1 for validation): for the slow paths (fine-tuning, other backbones)."""
    return make_image_set(tmp_path_factory.mktemp("few-shapes"), per_class=5, val_per_class=1, seed=1)


@pytest.fixture(scope="session")
def broken_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JPEG cut off halfway: load_rgb refuses it."""
    folder = tmp_path_factory.mktemp("broken")
    good = folder / "good.jpg"
    write_rgb(good, draw_shape("discs", np.random.default_rng(5), 80))
    data = good.read_bytes()
    broken = folder / "truncated.jpg"
    broken.write_bytes(data[: len(data) // 2])
    return broken


@pytest.fixture(autouse=True)
def offline_torch_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test sees an empty torch hub folder of its own: no test reads or writes ~/.cache/torch."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


class CancelAfter:
    """A cancel token that trips itself once ``trip()`` is called; remembers when."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.tripped_at: float | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    def trip(self) -> None:
        import time

        if self.tripped_at is None:
            self.tripped_at = time.perf_counter()
        self.event.set()


@pytest.fixture
def cancel_token() -> CancelAfter:
    return CancelAfter()


@dataclass
class Run:
    result: object  # desktop.ml.train_record.TrainResult
    items: list
    cache_dir: Path
    events: list


@pytest.fixture(scope="session")
def frozen_run(image_set: ImageSet, broken_jpeg: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Frozen-mode training on ``image_set`` plus one truncated JPEG, with the real EfficientNet-Lite0 weights."""
    from desktop.ml.options import TrainingOptions
    from desktop.ml.train_record import TrainItem
    from desktop.ml.trainer import train

    items = [*image_set.items(), TrainItem(broken_jpeg, file_hash(broken_jpeg), 0, "train")]
    cache_dir = tmp_path_factory.mktemp("feature-cache")
    events: list = []
    result = train(TrainingOptions(mode="frozen", batch_size=16), items, image_set.class_names, cache_dir,
                   on_progress=events.append)
    return Run(result, items, cache_dir, events)


@pytest.fixture(scope="session")
def finetune_run(small_image_set: ImageSet, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Fine-tuning (2 epochs, batches of 4) on the 15-image set."""
    from desktop.ml.options import TrainingOptions
    from desktop.ml.trainer import train

    items = small_image_set.items()
    cache_dir = tmp_path_factory.mktemp("feature-cache-small")
    events: list = []
    result = train(TrainingOptions(mode="finetune", epochs=2, batch_size=4, num_workers=1), items,
                   small_image_set.class_names, cache_dir, on_progress=events.append)
    return Run(result, items, cache_dir, events)
