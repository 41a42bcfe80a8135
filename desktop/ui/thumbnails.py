"""Thumbnails for the grid, read from the project's on-disk cache off the GUI thread.

Requests are served newest first, so when the user scrolls fast the rows now on screen load before
rows scrolled past; an LRU of QImages keeps memory bounded with 100,000 images. Cache files are read as bytes
through ``ThumbnailStore.read`` (regular files only, opened non-blocking: a named pipe in the cache cannot stall
a loader thread, or quitting), then decoded.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from desktop.io.thumbnails import ThumbnailStore

log = logging.getLogger(__name__)

CACHE_SIZE = 3000
MAX_PENDING = 400


class _Signals(QObject):
    loaded = Signal(str, QImage)


class _Requests:
    """What the loader threads share with the loader: the requests, newest last, and where results go. The threads
    hold this, never the loader itself: a thread that dropped the last reference to the loader would destroy a
    QObject of the GUI thread from its own (the grid's loader outlived by a thread crashed the test run)."""

    def __init__(self, store: ThumbnailStore) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.pending: list[str] = []
        self.requested: set[str] = set()
        self.workers = 0
        self.signals = _Signals()  # no parent: lives as long as a thread may still emit on it

    def next_request(self) -> str | None:
        with self.lock:
            if self.pending:
                return self.pending.pop()
            self.workers -= 1  # under the lock, so a new request either sees this worker or starts one
            return None


class _LoadNewest(QRunnable):
    def __init__(self, requests: _Requests) -> None:
        super().__init__()
        self._requests = requests

    def run(self) -> None:
        requests = self._requests
        while (content_hash := requests.next_request()) is not None:
            try:
                # Bytes first, then decode: QImage(path) would open a named pipe in the cache and wait for ever.
                data = requests.store.read(content_hash)
                image = QImage.fromData(data) if data else QImage()
            except Exception:  # an error must not end this thread: its count and request would never be freed
                log.exception("Could not load the thumbnail %s", content_hash)
                image = QImage()  # no thumbnail, as for a missing one: asked again when next painted
            requests.signals.loaded.emit(content_hash, image)


class ThumbnailLoader(QObject):
    loaded = Signal(str)  # content hash whose thumbnail is now in the cache

    def __init__(self, store: ThumbnailStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._requests = _Requests(store)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._requests.signals.loaded.connect(self._on_loaded)

    def get(self, content_hash: str) -> QImage | None:
        """The thumbnail if cached; otherwise None, and it is loaded in the background."""
        image = self._cache.get(content_hash)
        if image is not None:
            self._cache.move_to_end(content_hash)
            return image
        requests = self._requests
        if content_hash and content_hash not in requests.requested:
            with requests.lock:
                requests.requested.add(content_hash)
                requests.pending.append(content_hash)
                if len(requests.pending) > MAX_PENDING:  # drop the oldest: they scrolled out of view
                    for stale in requests.pending[: len(requests.pending) - MAX_PENDING]:
                        requests.requested.discard(stale)
                    del requests.pending[: len(requests.pending) - MAX_PENDING]
                start_worker = requests.workers < self._pool.maxThreadCount()
                if start_worker:
                    requests.workers += 1
            if start_worker:
                self._pool.start(_LoadNewest(requests))
        return None

    def path_for(self, content_hash: str) -> Path:
        return self.store.path_for(content_hash)

    def _on_loaded(self, content_hash: str, image: QImage) -> None:
        with self._requests.lock:
            self._requests.requested.discard(content_hash)
        if image.isNull():
            return
        self._cache[content_hash] = image
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        self.loaded.emit(content_hash)

    def wait_idle(self, timeout_ms: int = 5000) -> bool:
        return self._pool.waitForDone(timeout_ms)
