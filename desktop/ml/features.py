"""Frozen-backbone features, computed once per image and kept on disk, so training a head takes seconds.

Key: a cache folder per (backbone, weights content digest, evaluation preprocessing), and inside it one
row per (image content hash, view), view 0 being the evaluation crop and view 1 its mirror image. Paths are
not part of the key: a renamed or copied photo reuses its features, an edited one gets new ones.

Storage: append-only shard files (``shard-*.npz`` holding hashes, views and float32 features), each
written to a temporary file, fsynced and renamed, so a crash or a cancel loses at most the rows not yet
flushed and never leaves a half-written shard. Several processes may write the same folder: shard names
are unique. Opening a cache reads every shard once (thousands of images: milliseconds), after which
lookups are dictionary hits; many small shards are merged into one now and then.

Without torch (the CPU build: ``extract_features`` with ``extractor`` None) the features come from ONNX Runtime
only (``feature_engine``); torch is imported only where a torch module is given.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop.io.safe_files import TEMP_PREFIX, atomic_write, open_regular
from desktop.ml import distributed
from desktop.ml.backbones import BackboneSpec, backbone_units
from desktop.ml.data import ImageDataset, make_inference_batches, valid_batches
from desktop.ml.feature_engine import FeatureEngine
from desktop.ml.preprocess import EvalPreprocessing, decode_size, eval_preprocessing_id
from desktop.progress import (
    PHASE_FEATURES,
    CancelToken,
    Notice,
    PhaseProgress,
    Progress,
    ProgressCallback,
    check_cancel,
    emit,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

CACHE_FORMAT = 1
ORIGINAL, MIRRORED = 0, 1
FLUSH_ROWS = 512  # rows kept in memory before they are written as a shard
FLUSH_SECONDS = 30.0
COMPACT_AT_SHARDS = 16
STALE_TEMP_SECONDS = 3600.0


def feature_key(spec: BackboneSpec, weights_identity: str) -> str:
    """Name of the cache folder for features of ``spec`` with the given weights and preprocessing."""
    material = json.dumps({"format": CACHE_FORMAT, "backbone": spec.name, "weights": weights_identity,
                           "preprocessing": eval_preprocessing_id(spec)}, sort_keys=True)
    return f"{spec.name}-{hashlib.blake2b(material.encode(), digest_size=10).hexdigest()}"


class FeatureCache:
    """The on-disk feature store of one key. Not thread-safe: one cache object per worker thread.

    A cache folder that cannot be made or written (read-only disk, a file in its place, full disk) does not stop
    the work: the features are kept in memory for this run and ``problem`` says why they were not saved."""

    def __init__(self, cache_dir: Path, key: str, description: dict | None = None) -> None:
        self.directory = Path(cache_dir) / key
        self.problem: str | None = None  # why the cache is in memory only, as a sentence
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self._in_memory(error)
        self._index: dict[tuple[str, int], tuple[int, int]] = {}  # (hash, view) -> (block, row)
        self._blocks: list[np.ndarray] = []
        self._pending_keys: list[tuple[str, int]] = []
        self._pending_rows: list[np.ndarray] = []
        self._last_flush = time.monotonic()
        self._shards_on_disk = 0
        self.feature_dim: int | None = None
        about = self.directory / "about.json"
        if self.problem is None and description is not None and not about.exists():  # for a human to read
            try:
                atomic_write(about, lambda handle: handle.write(json.dumps(description, indent=1).encode()))
            except OSError as error:
                self._in_memory(error)
        self._load()

    def _in_memory(self, error: OSError) -> None:
        if self.problem is None:
            self.problem = (f"The feature cache {self.directory} cannot be written ({error.strerror or error}), "
                            "so features are computed again next time.")

    def __len__(self) -> int:
        return len(self._index) + len(self._pending_keys)

    def _load(self) -> None:
        now = time.time()
        try:
            paths = sorted(self.directory.iterdir())
        except OSError:
            return  # no folder to read (``problem`` says why when it could not be made)
        for path in paths:
            if path.name.startswith(TEMP_PREFIX):
                # Left behind by a process killed mid-write; give live writers an hour.
                if now - path.stat().st_mtime > STALE_TEMP_SECONDS:
                    path.unlink(missing_ok=True)
                continue
            if path.suffix == ".npz" and path.name.startswith("shard-"):
                self._load_shard(path)

    def _load_shard(self, path: Path) -> None:
        try:  # a regular file only: a pipe in the cache folder must not block the run
            with os.fdopen(open_regular(path), "rb") as handle, np.load(handle, allow_pickle=False) as shard:
                hashes, views, rows = shard["hashes"], shard["views"], shard["features"].astype(np.float32, copy=False)
        except FileNotFoundError:
            return  # merged away by another process since the folder was listed
        except Exception:  # a damaged shard (disk trouble): its rows are simply recomputed
            return
        if rows.ndim != 2 or len(hashes) != len(rows) or len(views) != len(rows):
            return
        if self.feature_dim is None:
            self.feature_dim = rows.shape[1]
        elif rows.shape[1] != self.feature_dim:
            return
        block = len(self._blocks)
        self._blocks.append(rows)
        for row, (content_hash, view) in enumerate(zip(hashes.tolist(), views.tolist(), strict=True)):
            self._index[(content_hash, int(view))] = (block, row)
        self._shards_on_disk += 1

    def has(self, content_hash: str, view: int = ORIGINAL) -> bool:
        return (content_hash, view) in self._index

    def get(self, content_hash: str, view: int = ORIGINAL) -> np.ndarray | None:
        where = self._index.get((content_hash, view))
        return None if where is None else self._blocks[where[0]][where[1]]

    def add(self, content_hash: str, view: int, features: np.ndarray) -> None:
        """Queue a row for the next flush; a row already stored is kept (first write wins, so reruns agree)."""
        if (content_hash, view) in self._index:
            return
        row = np.asarray(features, dtype=np.float32).reshape(-1)
        if self.feature_dim is None:
            self.feature_dim = row.shape[0]
        self._pending_keys.append((content_hash, view))
        self._pending_rows.append(row)
        if len(self._pending_keys) >= FLUSH_ROWS or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the rows added since the last flush as one new shard (atomically); merge shards when many."""
        self._write_pending()
        if self._shards_on_disk >= COMPACT_AT_SHARDS:
            self.compact()

    def _write_pending(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending_keys:
            return
        rows = np.stack(self._pending_rows)
        written = self._write_shard([key[0] for key in self._pending_keys], [key[1] for key in self._pending_keys],
                                    rows)
        block = len(self._blocks)
        self._blocks.append(rows)
        for row, key in enumerate(self._pending_keys):
            self._index[key] = (block, row)
        self._pending_keys, self._pending_rows = [], []
        self._shards_on_disk += written

    def _write_shard(self, hashes: list[str], views: list[int], rows: np.ndarray) -> bool:
        """Whether the shard is on disk; False keeps the rows in memory only (``problem``)."""
        if self.problem is not None:
            return False
        path = self.directory / f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
        try:
            atomic_write(path, lambda handle: np.savez(handle, hashes=np.array(hashes, dtype=str),
                                                       views=np.array(views, dtype=np.int8), features=rows))
        except OSError as error:
            self._in_memory(error)
            return False
        return True

    def compact(self) -> None:
        """Merge every shard into one; the merged shard is in place before the old ones are deleted."""
        self._write_pending()
        old = sorted(self.directory.glob("shard-*.npz"))
        if len(old) < 2:
            return
        keys, rows = self._merged_blocks()
        self._blocks = [rows]
        self._index = {key: (0, row) for row, key in enumerate(keys)}
        if not self._write_shard([key[0] for key in keys], [key[1] for key in keys], rows):
            return  # the old shards stay: nothing merged is on disk to replace them
        for path in old:
            path.unlink(missing_ok=True)
        self._shards_on_disk = 1

    def _merged_blocks(self) -> tuple[list[tuple[str, int]], np.ndarray]:
        """Every indexed row in one array, block after block, each block let go once copied: a merge holds the
        features once and a block more, not twice (100,000 photos' features are half a gigabyte)."""
        by_block: dict[int, list[tuple[int, tuple[str, int]]]] = {}
        for key, (block, row) in self._index.items():
            by_block.setdefault(block, []).append((row, key))
        merged = np.empty((len(self._index), self.feature_dim or 0), np.float32)
        keys: list[tuple[str, int]] = []
        for block in range(len(self._blocks)):
            entries = sorted(by_block.get(block, ()))
            if entries:
                merged[len(keys):len(keys) + len(entries)] = self._blocks[block][[row for row, _ in entries]]
                keys.extend(key for _, key in entries)
            self._blocks[block] = merged[:0]  # released; the index is rebuilt from ``keys`` right after
        return keys, merged


@dataclass
class FeatureSet:
    """Features of a list of images, in the order asked for."""

    features: np.ndarray  # (N, V, D) float32; rows of unreadable images are zero
    ok: np.ndarray  # (N,) bool: False where the image could not be read
    errors: dict[int, str] = field(default_factory=dict)  # index -> reason
    computed: int = 0  # distinct images run through the backbone this time
    reused: int = 0  # images whose every view came from the cache


def open_feature_cache(cache_dir: Path, spec: BackboneSpec, weights_identity: str) -> FeatureCache:
    return FeatureCache(cache_dir, feature_key(spec, weights_identity),
                        {"backbone": spec.name, "weights": weights_identity,
                         "preprocessing": json.loads(eval_preprocessing_id(spec)), "format": CACHE_FORMAT})


class _Views:
    """Evaluation crop, plus its mirror image when two views are asked for (stacked: V, 3, H, W, float32)."""

    def __init__(self, spec: BackboneSpec, views: Sequence[int]) -> None:
        self.preprocessing = EvalPreprocessing.of(spec)
        self.views = tuple(views)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.preprocessing.views(rgb, [view == MIRRORED for view in self.views])


def extract_features(extractor: nn.Module | None, spec: BackboneSpec, paths: Sequence[str | Path],
                     content_hashes: Sequence[str] | None, *, cache: FeatureCache | None = None,
                     views: Sequence[int] = (ORIGINAL,), device: torch.device | None = None, batch_size: int = 32,
                     num_workers: int | None = None, on_progress: ProgressCallback | None = None,
                     cancel: CancelToken | None = None, phase: str = PHASE_FEATURES,
                     weights_identity: str | None = None) -> FeatureSet:
    """Features for ``paths``: from ``cache`` where present, the rest through ``extractor`` (then cached).

    Images with the same content hash are computed once. Unreadable images are reported in ``errors``,
    not raised. A cancel keeps what was computed (it is flushed to the cache) and raises Cancelled.
    On a GPU out-of-memory error the batch size is halved and the remaining images are retried.
    ``weights_identity``: the extractor holds exactly these pretrained weights, so on a CPU the cached ONNX export
    of them computes the features in ONNX Runtime (``onnx_engine``; torch when that fails). The two agree within
    ``onnx_engine.FEATURE_TOLERANCE``, so they share a cache key.
    ``extractor`` None (no torch: the CPU build): ONNX Runtime computes them from the shipped ONNX file of these
    weights (``weights_identity`` required, ``device`` ignored); where it cannot, ``FeaturesUnavailable`` (a
    PigeonholeError) says why in one sentence, raised before any image is read.
    """
    views = tuple(views)
    if content_hashes is not None and len(content_hashes) != len(paths):
        raise ValueError("paths and content_hashes must have the same length")
    hashes = list(content_hashes) if content_hashes is not None else [None] * len(paths)
    rows: dict[int, np.ndarray] = {}  # index -> (V, D)
    errors: dict[int, str] = {}
    todo: dict[str, list[int]] = {}  # content hash (or path when unknown) -> indices sharing it
    for index, content_hash in enumerate(hashes):
        if cache is not None and content_hash is not None and all(cache.has(content_hash, v) for v in views):
            rows[index] = np.stack([cache.get(content_hash, v) for v in views])
        else:
            todo.setdefault(content_hash or f"path:{paths[index]}", []).append(index)
    reused = len(rows)

    firsts = [indices[0] for indices in todo.values()]  # one representative per distinct content
    emit(on_progress, Progress(phase, 0, len(firsts)))
    computed = 0
    try:
        if firsts:
            outcomes = _run_backbone(extractor, spec, [paths[i] for i in firsts], [hashes[i] for i in firsts],
                                     views=views, cache=cache, device=device,
                                     batch_size=batch_size, num_workers=num_workers, on_progress=on_progress,
                                     cancel=cancel, phase=phase, weights_identity=weights_identity)
            for outcome, indices in zip(outcomes, todo.values(), strict=True):
                for index in indices:
                    if isinstance(outcome, str):
                        errors[index] = outcome
                    else:
                        rows[index] = outcome
            computed = sum(not isinstance(outcome, str) for outcome in outcomes)
    finally:
        if cache is not None:
            cache.flush()

    dim = next((row.shape[-1] for row in rows.values()), 0)
    features = np.zeros((len(paths), len(views), dim), np.float32)
    for index, row in rows.items():
        features[index] = row
    ok = np.array([index in rows for index in range(len(paths))], dtype=bool)
    return FeatureSet(features, ok, errors, computed, reused)


def extract_features_across_ranks(extractor: nn.Module | None, spec: BackboneSpec, paths: Sequence[str | Path],
                                  content_hashes: Sequence[str] | None, **options) -> FeatureSet:
    """``extract_features`` shared out over the ranks of a distributed run: each rank computes its shard
    (``distributed.shard``) and every rank gets the whole set, rows in the order of ``paths``. In a single
    process it is ``extract_features``. ``options``: those of ``extract_features``."""
    ranks = distributed.current()
    if not ranks.distributed:
        return extract_features(extractor, spec, paths, content_hashes, **options)
    mine = distributed.shard_indices(len(paths), ranks)
    part = extract_features(extractor, spec, [paths[i] for i in mine],
                            None if content_hashes is None else [content_hashes[i] for i in mine], **options)
    parts = distributed.all_gather((mine, part))
    views = len(options.get("views", (ORIGINAL,)))
    dim = max(part.features.shape[-1] for _, part in parts)
    features = np.zeros((len(paths), views, dim), np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    errors: dict[int, str] = {}
    for indices, part in parts:
        if part.ok.any():  # a shard of unreadable images only has zero-width rows
            features[indices] = part.features
        ok[indices] = part.ok
        errors.update({int(indices[index]): reason for index, reason in part.errors.items()})
    return FeatureSet(features, ok, errors, sum(part.computed for _, part in parts),
                      sum(part.reused for _, part in parts))


def _run_backbone(extractor: nn.Module | None, spec: BackboneSpec, paths: list[str | Path],
                  hashes: list[str | None], *, views: tuple[int, ...], cache: FeatureCache | None,
                  device: torch.device | None, batch_size: int,
                  num_workers: int | None, on_progress: ProgressCallback | None, cancel: CancelToken | None,
                  phase: str, weights_identity: str | None) -> list[np.ndarray | str]:
    """(V, D) features or an error message for each path, in order; new features go to ``cache``. On a GPU
    out-of-memory error the batch size is halved and the images not done yet are run again."""
    engine = FeatureEngine(extractor, spec, device, weights_identity, on_progress, cancel)
    run = _BackboneRun(engine, spec, paths, hashes, views, cache, num_workers, on_progress, cancel, phase)
    with engine.prepared():
        if engine.device is None or engine.device.type == "cpu":
            run.remaining(engine.batch_size(batch_size))  # no GPU memory to run out of
        else:
            from desktop.ml.device import halving_batches

            halving_batches(run.remaining, engine.batch_size(batch_size), engine.device, lambda smaller: emit(
                on_progress, Notice(f"The GPU ran out of memory; continuing with batches of {smaller} images.")))
    return [outcome if outcome is not None else "not processed" for outcome in run.outcomes]


class _BackboneRun:
    """One extraction: each image's outcome as it comes ((V, D) features, or why it could not be read)."""

    def __init__(self, engine: FeatureEngine, spec: BackboneSpec, paths: list[str | Path], hashes: list[str | None],
                 views: tuple[int, ...], cache: FeatureCache | None, num_workers: int | None,
                 on_progress: ProgressCallback | None, cancel: CancelToken | None, phase: str) -> None:
        self.engine, self.spec, self.views, self.cache = engine, spec, views, cache
        self.paths, self.hashes = paths, hashes
        self.num_workers, self.cancel = num_workers, cancel
        self.outcomes: list[np.ndarray | str | None] = [None] * len(paths)
        self.transform = _Views(spec, views)
        self.progress = PhaseProgress(on_progress, phase, len(paths))
        # A cancel is checked before every block and every layer inside one: a big block of a big batch takes
        # half a second on two idle cores, more on a busy laptop.
        self.check_points = [module for unit in backbone_units(spec, engine.extractor)
                             for module in (unit, *unit.children())] if engine.extractor is not None else []

    def remaining(self, batch_size: int) -> None:
        """Run the images without an outcome yet through the engine, ``batch_size`` at a time."""
        remaining = [i for i, outcome in enumerate(self.outcomes) if outcome is None]
        total = len(self.paths)
        dataset = ImageDataset([self.paths[i] for i in remaining], None, self.transform,
                               decode_size=decode_size(self.spec),
                               sample_shape=(len(self.views), 3, self.spec.input_size, self.spec.input_size),
                               indices=remaining)
        loader = make_inference_batches(dataset, batch_size, device=self.engine.device, num_workers=self.num_workers)
        skipped: dict[int, str] = {}
        done = total - len(remaining)
        try:
            with self._torch_context():
                for images, _labels, indices in valid_batches(loader, skipped, self.cancel):
                    for index, image_vectors in zip(indices.tolist(), self.engine(images, self.cancel), strict=True):
                        self.outcomes[index] = image_vectors
                        self._remember(self.hashes[index], image_vectors)
                    done = sum(outcome is not None for outcome in self.outcomes) + len(skipped)
                    self.progress(done)
                    check_cancel(self.cancel)
            if done < total:  # the last batches held only unreadable images
                self.progress(total)
        finally:
            for index, error in skipped.items():
                self.outcomes[index] = error

    def _torch_context(self) -> ExitStack:
        """No gradients, and a cancel checked between blocks, while a torch module computes; nothing without."""
        stack = ExitStack()
        if self.engine.extractor is not None:
            import torch

            from desktop.ml.model import cancel_between_blocks

            stack.enter_context(torch.inference_mode())
            stack.enter_context(cancel_between_blocks(self.check_points, self.cancel))
        return stack

    def _remember(self, content_hash: str | None, image_vectors: np.ndarray) -> None:
        """One image's views into the cache (flushed in shards as they fill)."""
        if self.cache is not None and content_hash is not None:
            for view, vector in zip(self.views, image_vectors, strict=True):
                self.cache.add(content_hash, view, vector)
