"""Shared fixtures for every test folder. Keep this file free of Qt and torch imports.

Image writers live in tests/imagemakers.py (importable as ``imagemakers`` because this folder is on
sys.path while pytest runs).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import imagemakers
import pytest
import torch_block  # noqa: F401  (before any desktop import: blocks torch in the torch-free run)

from desktop.core.project import Project, open_project


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The per-user cache (exported ONNX networks) of the whole session: exported once, not once per test."""
    return tmp_path_factory.mktemp("user-cache")


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session_cache_dir: Path) -> Path:
    """Nothing a test does lands in the real user data or cache folders."""
    data_dir = tmp_path / "user-data"
    monkeypatch.setenv("PIGEONHOLE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PIGEONHOLE_CACHE_DIR", str(session_cache_dir))
    return data_dir


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A new, empty project in its own folder; closed after the test."""
    with open_project(tmp_path / "test.pigeonhole") as opened:
        yield opened


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    """A folder holding one of every good and bad kind of file (see imagemakers.make_zoo)."""
    return imagemakers.make_zoo(tmp_path / "zoo")


@pytest.fixture
def photo_folder(tmp_path: Path):
    """Factory: ``photo_folder({"cats": 3, "dogs": 2})`` writes small JPEGs as class_name/NN.jpg."""

    def make(classes: dict[str, int], root: Path | None = None, size: tuple[int, int] = (96, 64)) -> Path:
        root = root or tmp_path / "photos"
        seed = 0
        for name, count in classes.items():
            for index in range(count):
                seed += 1
                imagemakers.write_jpeg(root / name / f"{index:02d}.jpg", *size, seed=seed)
        return root

    return make


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed project (imported shape photos, labelled from subfolders, one frozen model trained and active)
    and its photos under one folder. Never use it directly: ``trained_project`` gives each test a copy."""
    from desktop.core.importer import import_folder
    from desktop.core.training import train_project
    from desktop.ml.options import TrainingOptions

    base = tmp_path_factory.mktemp("trained")
    photos = imagemakers.write_shape_folders(base / "photos", per_class=8)
    with open_project(base / "shapes.pigeonhole") as template:
        import_folder(template, photos, labels_from_subfolders=True)
        train_project(template, TrainingOptions(mode="frozen", epochs=15))
    return base


@pytest.fixture
def trained_project(trained_template: Path, tmp_path: Path) -> Iterator[Project]:
    """A private copy of ``trained_template``: 3 classes × 8 labelled photos in ``<tmp>/trained/photos``,
    an active frozen-mode model, no predictions yet. Tests may change anything in it."""
    import shutil

    from desktop.core.folders import list_folders, relink_folder

    copy = tmp_path / "trained"
    shutil.copytree(trained_template, copy)
    with open_project(copy / "shapes.pigeonhole", create=False) as opened:
        relink_folder(opened, list_folders(opened)[0].id, copy / "photos")
        yield opened


@pytest.fixture
def hang_guard() -> Iterator[None]:
    """A hang (the bug some tests guard against: open() on a FIFO waits for a writer forever) fails the test
    after 20 s instead of stalling the suite. POSIX only; elsewhere it guards nothing."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def hung(_signum, _frame):
        raise AssertionError("hung: a read or open did not return")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
