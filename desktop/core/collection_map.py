"""Collection map: every photo as a point in 2-D, placed by its backbone features, so similar photos lie close.

Public API (Qt-free; the GUI runs ``compute_map`` in a worker):

- ``compute_map(project, backbone=None, on_progress=None, cancel=None, index=None) -> CollectionMap``:
  ``image_ids`` (N,), ``xy`` (N, 2) float32 scaled into [0, 1], ``method`` ("PCA"). The coordinates are cached
  in the project's cache folder per (backbone, set of content hashes): a second call with the same photos
  reads one file.
- ``map_coordinates(vectors, cancel=None) -> (N, 2)``: the projection itself, PCA by a randomised SVD (two
  passes over the data instead of a full SVD; the same first two components to within numerical noise).
- ``points_in_polygon(points, polygon) -> bool mask``: the lasso (even-odd rule, vectorised over points).

PCA only: t-SNE and UMAP need scikit-learn or umap-learn, which are not installed, and PCA's layout is
stable when photos are added (t-SNE's is not). Imports torch (via the features).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from desktop.core.project import Project
from desktop.progress import CancelToken, Progress, ProgressCallback, check_cancel, emit

PHASE_MAPPING = "placing photos on the map"
METHOD = "PCA"
OVERSAMPLE = 10  # extra random directions: the top two components are found accurately
POWER_ITERATIONS = 2
SEED = 0  # the same photos always land in the same places


@dataclass(frozen=True)
class CollectionMap:
    image_ids: np.ndarray  # (N,) int64
    xy: np.ndarray  # (N, 2) float32 in [0, 1]
    method: str


def map_coordinates(vectors: np.ndarray, cancel: CancelToken | None = None) -> np.ndarray:
    """(N, 2) float32 in [0, 1]: the first two principal components of ``vectors``, scaled to fit."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    centred = np.asarray(vectors, np.float32) - np.asarray(vectors, np.float32).mean(axis=0)
    k = min(2 + OVERSAMPLE, *centred.shape)
    basis = centred @ np.random.default_rng(SEED).standard_normal((centred.shape[1], k)).astype(np.float32)
    for _ in range(POWER_ITERATIONS):  # sharpens the subspace towards the top components
        check_cancel(cancel)
        basis, _ = np.linalg.qr(basis)
        basis, _ = np.linalg.qr(centred @ (centred.T @ basis))
    check_cancel(cancel)
    small = basis.T @ centred  # (k, D): the data in the found subspace
    _, _, components = np.linalg.svd(small, full_matrices=False)
    xy = centred @ components[:2].T
    if xy.shape[1] < 2:  # one photo or one feature: a line
        xy = np.hstack([xy, np.zeros((n, 2 - xy.shape[1]), np.float32)])
    xy = xy * np.sign(xy[np.abs(xy).argmax(axis=0), [0, 1]] + 1e-12)  # fixed orientation: largest value positive
    low, high = xy.min(axis=0), xy.max(axis=0)
    return ((xy - low) / np.maximum(high - low, 1e-12)).astype(np.float32)


def points_in_polygon(points: np.ndarray, polygon) -> np.ndarray:
    """Which ``points`` (N, 2) lie inside ``polygon`` (M, 2 vertices, closed implicitly), by the even-odd rule."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    polygon = np.asarray(polygon, np.float64).reshape(-1, 2)
    inside = np.zeros(len(points), bool)
    if len(polygon) < 3:
        return inside
    x, y = points[:, 0], points[:, 1]
    for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        crosses = (y1 > y) != (y2 > y)  # the edge spans the point's height
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return inside


def compute_map(project: Project, backbone: str | None = None, on_progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None, index=None) -> CollectionMap:
    """Map every readable photo; ``index`` (a desktop.core.similarity.SimilarityIndex) saves recomputing."""
    from desktop.core.collection_features import build_index

    if index is None:
        index = build_index(project, backbone, on_progress, cancel)
    emit(on_progress, Progress(PHASE_MAPPING, 0, 1))
    hashes = sorted(set(index.content_hashes))
    key = hashlib.blake2b(("\n".join([index.backbone, METHOD, *hashes])).encode(), digest_size=12).hexdigest()
    cache = project.cache_dir / "maps" / f"{key}.npz"
    xy_of = _read_cache(cache)
    if xy_of is None:
        row_of = {h: row for row, h in enumerate(index.content_hashes)}  # one vector per content
        coordinates = map_coordinates(index.vectors[[row_of[h] for h in hashes]], cancel)
        xy_of = dict(zip(hashes, coordinates, strict=True))
        _write_cache(cache, hashes, coordinates)
    emit(on_progress, Progress(PHASE_MAPPING, 1, 1))
    xy = np.array([xy_of[h] for h in index.content_hashes], np.float32).reshape(-1, 2)
    return CollectionMap(index.image_ids.copy(), xy, METHOD)


MAX_CACHE_BYTES = 1 << 28  # a million photos' hashes and places; anything larger is not one of ours


def _read_cache(path) -> dict[str, np.ndarray] | None:
    """The cached map; None when absent, damaged, or no regular file of a map's size (a named pipe in the
    project's cache would block ``np.load(path)`` for ever)."""
    import io

    from desktop.io.files import read_regular_file

    try:
        data = read_regular_file(path, MAX_CACHE_BYTES)
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            return dict(zip(stored["hashes"].tolist(), stored["xy"], strict=True))
    except Exception:  # absent or damaged: computed again
        return None


def _write_cache(path, hashes: list[str], xy: np.ndarray) -> None:
    from desktop.io.safe_files import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda handle: np.savez(handle, hashes=np.array(hashes, dtype=str), xy=xy),
                     durable=False)
    except OSError:  # a cache: failing to keep it costs a recomputation next time, nothing else
        pass
