"""Fixtures shared by the import and file-safety tests (tests/conftest.py has the project-wide ones)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

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
