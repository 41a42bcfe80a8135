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


class _LoadNewest(QRunnable):
    def __init__(self, loader: ThumbnailLoader) -> None:
        super().__init__()
        self._loader = loader

    def run(self) -> None:
        while (content_hash := self._loader._next_request()) is not None:
            try:
                # Bytes first, then decode: QImage(path) would open a named pipe in the cache and wait for ever.
                data = self._loader.store.read(content_hash)
                image = QImage.fromData(data) if data else QImage()
            except Exception:  # an error must not end this thread: its count and request would never be freed
                log.exception("Could not load the thumbnail %s", content_hash)
                image = QImage()  # no thumbnail, as for a missing one: asked again when next painted
            self._loader._signals.loaded.emit(content_hash, image)


class ThumbnailLoader(QObject):
    loaded = Signal(str)  # content hash whose thumbnail is now in the cache

    def __init__(self, store: ThumbnailStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._pending: list[str] = []
        self._requested: set[str] = set()
        self._lock = threading.Lock()
        self._workers = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _Signals()
        self._signals.loaded.connect(self._on_loaded)

    def get(self, content_hash: str) -> QImage | None:
        """The thumbnail if cached; otherwise None, and it is loaded in the background."""
        image = self._cache.get(content_hash)
        if image is not None:
            self._cache.move_to_end(content_hash)
            return image
        if content_hash and content_hash not in self._requested:
            with self._lock:
                self._requested.add(content_hash)
                self._pending.append(content_hash)
                if len(self._pending) > MAX_PENDING:  # drop the oldest: they scrolled out of view
                    for stale in self._pending[: len(self._pending) - MAX_PENDING]:
                        self._requested.discard(stale)
                    del self._pending[: len(self._pending) - MAX_PENDING]
                start_worker = self._workers < self._pool.maxThreadCount()
                if start_worker:
                    self._workers += 1
            if start_worker:
                self._pool.start(_LoadNewest(self))
        return None

    def path_for(self, content_hash: str) -> Path:
        return self.store.path_for(content_hash)

    def _next_request(self) -> str | None:
        with self._lock:
            if self._pending:
                return self._pending.pop()
            self._workers -= 1  # under the lock, so a new request either sees this worker or starts one
            return None

    def _on_loaded(self, content_hash: str, image: QImage) -> None:
        with self._lock:
            self._requested.discard(content_hash)
        if image.isNull():
            return
        self._cache[content_hash] = image
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        self.loaded.emit(content_hash)

    def wait_idle(self, timeout_ms: int = 5000) -> bool:
        return self._pool.waitForDone(timeout_ms)
