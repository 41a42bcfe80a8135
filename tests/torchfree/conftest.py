"""The torch-free runtime's tests. They run in the usual suite, and again with torch unimportable
(``PIGEONHOLE_WITHOUT_TORCH=1``, see tests/conftest.py): nothing here, nor in what it imports, may import torch,
except behind ``desktop.ml.builds.torch_installed()``."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from desktop.core.self_test import CLASSES, write_pictures
from desktop.ml import builds
from desktop.ml.shipped import FOLDER_VARIABLE
from desktop.ml.train_record import TrainItem

WITHOUT_TORCH = os.environ.get("PIGEONHOLE_WITHOUT_TORCH") == "1"
BACKBONE = "efficientnet_lite0"


@pytest.fixture(autouse=True)
def torch_stays_out():
    """In the torch-free run, torch is still not imported after each test (a test that swallowed the ImportError
    of a torch path would otherwise pass)."""
    yield
    if WITHOUT_TORCH:
        assert sys.modules.get("torch") is None, "a torch-free path imported torch"


@pytest.fixture(scope="session")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped backbones folder: scripts/test's in the torch-free run, else exported here once (torch is
    importable)."""
    named = os.environ.get(FOLDER_VARIABLE)
    if named:
        return Path(named)
    if not builds.torch_installed():
        pytest.skip(f"no shipped backbones: {FOLDER_VARIABLE} is unset and torch is missing to export them")
    from desktop.ml.shipped.__main__ import export_shipped

    folder = tmp_path_factory.mktemp("shipped-backbones")
    export_shipped(folder, [BACKBONE])
    return folder


@pytest.fixture
def use_shipped(shipped: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(FOLDER_VARIABLE, str(shipped))
    return shipped


@pytest.fixture
def cpu_build(use_shipped: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CPU build in this process: torch unimportable from here on (in the usual run too), the backbones
    shipped. Returns the shipped folder."""
    for name in ("torch", "torchvision"):
        monkeypatch.setitem(sys.modules, name, None)
    return use_shipped


@pytest.fixture
def picture_items(tmp_path: Path) -> list[TrainItem]:
    """The self-test's drawn pictures (6 per class, 2 of each held out for validation) as training items."""
    pictures = write_pictures(tmp_path / "pictures", per_class=6)
    return [TrainItem(path, hashlib.sha256(path.read_bytes()).hexdigest(), label, "val" if index < 2 else "train")
            for label, name in enumerate(CLASSES) for index, path in enumerate(sorted((pictures / name).iterdir()))]
