"""The collection's features, one home: each photo's pretrained-backbone feature vector (the training cache's,
computed for photos not cached yet) and the in-memory index over them that near-duplicates, More like this, the
collection map, label review and model comparison all read.

- ``backbone_features(project, paths, content_hashes, backbone)``: a ``FeatureSet`` for these photos.
- ``project_backbone(project)``: the backbone that describes the collection (the active model's, else the default).
- ``build_index(project, backbone=None, on_progress=None, cancel=None) -> SimilarityIndex``: one unit vector per
  readable photo; ``SimilarityIndex`` answers neighbour queries with one matrix-vector product.

Importing it is free; computing features imports torch in the full build (ONNX Runtime computes them either way on
a CPU), and only ONNX Runtime in the CPU build.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from desktop.core.project import Project
from desktop.db.models import Image
from desktop.db.queries import IMAGE_PATH, with_folder
from desktop.errors import PigeonholeError
from desktop.progress import CancelToken, ProgressCallback

if TYPE_CHECKING:
    from desktop.ml.features import FeatureSet

DEFAULT_NEIGHBOURS = 50
GROW_BLOCK = 256  # selected photos compared with the collection at once: 256 × N floats


def backbone_features(project: Project, paths: list[Path], content_hashes: list[str], backbone: str,
                      on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> FeatureSet:
    """Pretrained ``backbone`` features (the training cache's) for these photos: FeatureSet (.features, .ok)."""
    # Imported when features are needed, never when the GUI imports this module
    from desktop.ml.backbones import build_feature_extractor, get_backbone, pretrained_weights
    from desktop.ml.builds import torch_installed
    from desktop.ml.features import FeatureSet, extract_features, open_feature_cache

    spec = get_backbone(backbone)
    weights = pretrained_weights(spec.name)
    cache = open_feature_cache(project.cache_dir / "features", spec, weights.identity)
    if all(cache.has(h) for h in content_hashes):  # everything cached: no need for the network
        features = np.stack([cache.get(h)[None] for h in content_hashes]) if content_hashes else \
            np.zeros((0, 1, 0), np.float32)
        return FeatureSet(features, np.ones(len(paths), bool), {}, 0, len(paths))
    # With torch, the network to fall back on where ONNX Runtime fails; without, ONNX Runtime alone.
    extractor = build_feature_extractor(spec, weights.path)[0] if torch_installed() else None
    return extract_features(extractor, spec, paths, content_hashes, cache=cache, on_progress=on_progress,
                            cancel=cancel, weights_identity=weights.identity)


class NotInIndex(PigeonholeError):
    """The photo asked about has no features: not in the project, missing, or unreadable."""


@dataclass
class SimilarityIndex:
    """Every readable photo's feature vector (unit length), with the photo's id and content hash per row."""

    image_ids: np.ndarray  # (N,) int64
    content_hashes: list[str]
    vectors: np.ndarray  # (N, D) float32, rows of unit length
    backbone: str

    def __post_init__(self) -> None:
        self._row_of = {int(image_id): row for row, image_id in enumerate(self.image_ids.tolist())}

    @classmethod
    def from_vectors(cls, image_ids: Iterable[int], vectors: np.ndarray, content_hashes: list[str] | None = None,
                     backbone: str = "") -> SimilarityIndex:
        """An index over raw (not yet normalised) vectors; zero vectors stay zero and match nothing."""
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
        ids = np.fromiter(image_ids, dtype=np.int64, count=len(vectors))
        return cls(ids, content_hashes if content_hashes is not None else [""] * len(ids), vectors, backbone)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __contains__(self, image_id: int) -> bool:
        return int(image_id) in self._row_of

    def row(self, image_id: int) -> int:
        try:
            return self._row_of[int(image_id)]
        except KeyError:
            raise NotInIndex(f"Photo {image_id} has no features (it is not in the project, missing, or "
                             "unreadable).") from None

    def neighbours(self, image_id: int, n: int = DEFAULT_NEIGHBOURS) -> list[tuple[int, float]]:
        """The ``n`` photos most similar to ``image_id``, most similar first (ties by id), itself left out."""
        row = self.row(image_id)
        scores = self.vectors @ self.vectors[row]
        scores[row] = -np.inf
        return self._top(scores, n)

    def nearest_to(self, vector: np.ndarray, n: int = DEFAULT_NEIGHBOURS) -> list[tuple[int, float]]:
        """The ``n`` photos most similar to a raw feature vector (a photo outside the project)."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        return self._top(self.vectors @ (vector / max(float(np.linalg.norm(vector)), 1e-12)), n)

    def grow(self, image_ids: Iterable[int], n_per_photo: int = 5) -> list[int]:
        """The selection (in the order given) followed by each selected photo's ``n_per_photo`` nearest
        photos outside it, the closest additions first. Photos without features stay in the selection."""
        selection = list(dict.fromkeys(int(i) for i in image_ids))
        rows = np.array([self._row_of[i] for i in selection if i in self._row_of], dtype=np.int64)
        if not len(rows) or n_per_photo < 1:
            return selection
        best = np.full(len(self), -np.inf, dtype=np.float32)  # each candidate's highest score from any pick
        for start in range(0, len(rows), GROW_BLOCK):
            block = rows[start:start + GROW_BLOCK]
            scores = self.vectors[block] @ self.vectors.T
            scores[:, rows] = -np.inf
            keep = min(n_per_photo, len(self) - len(rows))
            if keep <= 0:
                break
            top = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
            picked = np.take_along_axis(scores, top, axis=1)
            np.maximum.at(best, top.ravel(), picked.ravel())
        added = np.flatnonzero(np.isfinite(best))
        order = np.lexsort((self.image_ids[added], -best[added]))
        return selection + self.image_ids[added[order]].tolist()

    def _top(self, scores: np.ndarray, n: int) -> list[tuple[int, float]]:
        finite = int(np.isfinite(scores).sum())
        n = min(n, finite)
        if n <= 0:
            return []
        candidates = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        order = np.lexsort((self.image_ids[candidates], -scores[candidates]))[:n]
        chosen = candidates[order]
        return [(int(i), round(float(s), 6)) for i, s in
                zip(self.image_ids[chosen].tolist(), scores[chosen].tolist(), strict=True)]


def project_backbone(project: Project) -> str:
    """The backbone whose features describe the collection: the active model's, else the default."""
    from desktop.core.models_registry import active_model
    from desktop.ml.options import DEFAULT_BACKBONE

    model = active_model(project)
    return model.backbone if model is not None else DEFAULT_BACKBONE


def build_index(project: Project, backbone: str | None = None, on_progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> SimilarityIndex:
    """Features of every readable photo in the project, computing (and caching) those not cached yet."""
    from desktop.ml.features import ORIGINAL

    backbone = backbone or project_backbone(project)
    with project.sessions() as session:
        rows = session.execute(
            with_folder(select(Image.id, IMAGE_PATH, Image.content_hash))
            .where(Image.error.is_(None), Image.missing.is_(False)).order_by(Image.id)).all()
    first_of: dict[str, int] = {}  # one feature computation per distinct content
    for index, row in enumerate(rows):
        first_of.setdefault(row.content_hash, index)
    firsts = list(first_of.values())
    feature_set = backbone_features(project, [rows[i].path for i in firsts],
                                    [rows[i].content_hash for i in firsts], backbone, on_progress, cancel)
    dim = feature_set.features.shape[-1]
    vector_of = {rows[i].content_hash: feature_set.features[k, ORIGINAL] for k, i in enumerate(firsts)
                 if feature_set.ok[k]}
    kept = [row for row in rows if row.content_hash in vector_of]
    vectors = np.stack([vector_of[row.content_hash] for row in kept]) if kept else np.zeros((0, dim), np.float32)
    return SimilarityIndex.from_vectors([row.id for row in kept], vectors, [row.content_hash for row in kept],
                                        backbone)
