"""Fixtures shared by the import tests (tests/conftest.py has the project-wide ones, hang_guard among them)."""

from __future__ import annotations

import threading

import pytest

from desktop.core import importer


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every relative path the importer reads from disk, in order (``_process`` is the only reader)."""
    reads: list[str] = []
    lock = threading.Lock()
    original = importer._process

    def counting(root, found, thumbnails):
        with lock:
            reads.append(found.rel_path)
        return original(root, found, thumbnails)

    monkeypatch.setattr(importer, "_process", counting)
    return reads
