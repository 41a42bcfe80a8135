"""The grid's thumbnail loader reads the project's cache, which anyone who can write the project can fill:
a named pipe there must neither stall a loader thread nor keep the app from quitting."""

from __future__ import annotations

import os

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
