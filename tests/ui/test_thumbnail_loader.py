"""The grid's thumbnail loader reads the project's cache, which anyone who can write the project can fill:
a named pipe there must neither stall a loader thread nor keep the app from quitting."""

from __future__ import annotations

import os
import time

import imagemakers
import pytest

from desktop.io.thumbnails import ThumbnailStore
from desktop.ui.thumbnails import ThumbnailLoader

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")

GOOD, PIPE, OTHER_PIPE = "aa" + "1" * 30, "bb" + "2" * 30, "cc" + "3" * 30


def _store(tmp_path) -> ThumbnailStore:
    store = ThumbnailStore(tmp_path / "thumbnails")
    imagemakers.write_jpeg(store.path_for(GOOD), 32, 24, seed=1)
    for content_hash in (PIPE, OTHER_PIPE):
        store.path_for(content_hash).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(store.path_for(content_hash))
    return store


def test_named_pipes_in_the_cache_neither_block_the_loaders_nor_hide_other_thumbnails(qtbot, tmp_path,
                                                                                     hang_guard) -> None:
    loader = ThumbnailLoader(_store(tmp_path))
    # Two pipes first: with QImage(path) both loader threads (the pool has two) waited on them for ever.
    assert loader.get(PIPE) is None and loader.get(OTHER_PIPE) is None
    with qtbot.waitSignal(loader.loaded, timeout=10_000) as loaded:
        assert loader.get(GOOD) is None
    assert loaded.args == [GOOD]
    assert loader.get(GOOD).width() == 32
    assert loader.wait_idle(10_000)  # quitting waits for the pool: it is idle, not stuck in open()
    assert loader.get(PIPE) is None and loader.get(OTHER_PIPE) is None  # no image, asked again later
    assert loader.wait_idle(10_000)


def test_the_store_reads_only_regular_files_of_a_thumbnails_size(tmp_path, hang_guard) -> None:
    store = _store(tmp_path)
    assert store.read(GOOD)[:2] == b"\xff\xd8"
    assert store.read(PIPE) is None and store.read("dd" + "4" * 30) is None
    big = "ee" + "5" * 30
    store.path_for(big).parent.mkdir(parents=True)
    with open(store.path_for(big), "wb") as handle:
        handle.truncate(1 << 30)  # sparse: a gigabyte claimed, never read
    assert store.read(big) is None
    assert store.existing() == {GOOD, big}  # the pipes count as missing: the next import replaces them


def test_a_load_that_raises_frees_its_thread_and_the_request(qtbot, tmp_path, hang_guard, monkeypatch) -> None:
    """An error while reading a thumbnail ended its loader thread without freeing its place: after two, no
    thread was ever started again and every thumbnail stayed "loading"."""
    store = _store(tmp_path)
    loader = ThumbnailLoader(store)
    real_read = store.read
    broken = {"ff" + "6" * 30, "ee" + "7" * 30}

    def read(content_hash: str):
        if content_hash in broken:
            raise MemoryError("no memory for this one")
        return real_read(content_hash)

    monkeypatch.setattr(store, "read", read)
    for content_hash in broken:  # one per loader thread (the pool has two)
        assert loader.get(content_hash) is None
    assert loader.wait_idle(10_000)
    with qtbot.waitSignal(loader.loaded, timeout=10_000) as loaded:
        assert loader.get(GOOD) is None
    assert loaded.args == [GOOD] and loader.get(GOOD).width() == 32
    assert loader.wait_idle(10_000)
    assert all(loader.get(content_hash) is None for content_hash in broken)  # asked again, not stuck as asked


def test_a_loader_let_go_while_its_threads_run_is_destroyed_by_the_gui_thread(qtbot, tmp_path, hang_guard,
                                                                             monkeypatch) -> None:
    """The loader threads held the loader itself: when the GUI thread let it go first, the last thread to finish
    destroyed it from its own thread, and the next events crashed the process (this file, 1 run in 4)."""
    store = _store(tmp_path)
    real_read = store.read

    def slow_read(content_hash: str):
        time.sleep(0.02)  # still reading when the loader is let go
        return real_read(content_hash)

    monkeypatch.setattr(store, "read", slow_read)
    for _ in range(15):
        loader = ThumbnailLoader(store)
        assert loader.get(GOOD) is None and loader.get(PIPE) is None
        del loader
        qtbot.wait(60)  # the threads end and their results arrive for a loader that is gone
