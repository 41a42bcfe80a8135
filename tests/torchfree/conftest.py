"""The torch-free runtime's tests. They run in the usual suite, and again with torch unimportable
(``PIGEONHOLE_WITHOUT_TORCH=1``, see tests/conftest.py): nothing here, nor in what it imports, may import torch,
except behind ``desktop.ml.builds.torch_installed()``."""

from __future__ import annotations

import os
import sys

import pytest

WITHOUT_TORCH = os.environ.get("PIGEONHOLE_WITHOUT_TORCH") == "1"


@pytest.fixture(autouse=True)
def torch_stays_out():
    """In the torch-free run, torch is still not imported after each test (a test that swallowed the ImportError
    of a torch path would otherwise pass)."""
    yield
    if WITHOUT_TORCH:
        assert sys.modules.get("torch") is None, "a torch-free path imported torch"
