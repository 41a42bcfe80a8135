"""More like this: the photos nearest to a photo (or to a selection) by cosine similarity of the backbone's
cached features.

Public API (Qt-free; the GUI runs ``build_index`` in a worker and keeps the index for repeated queries):

- ``build_index(project, backbone=None, on_progress=None, cancel=None) -> SimilarityIndex``: one row per
  readable photo, L2-normalised float32 vectors in memory. Features come from the training cache; photos not
  cached yet are run through the backbone (that is the slow part, reported through ``on_progress``).
- ``SimilarityIndex.neighbours(image_id, n) -> list[(image_id, score)]``, most similar first, the photo itself
  left out; ``SimilarityIndex.grow(image_ids, n_per_photo) -> list[image_id]``: the selection followed by the
  photos it gained. A query is one matrix-vector product (100,000 × 1280 in tens of milliseconds,
  bench/similarity_bench.py).
- ``similar_to(project, image_id, n, index=None)`` and ``grow_selection(project, image_ids, n_per_photo,
  index=None)``: the same, building the index when none is given.
- ``find_image(project, reference) -> image_id``: an image id or a photo's path, as the CLI takes it;
  ``paths_of(project, image_ids) -> {image_id: Path}``.

Copies with the same content share one vector, so an exact copy scores 1.0. Imports torch (via the features).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from desktop.core.project import Project
from desktop.db.models import Folder, Image
from desktop.db.queries import IMAGE_PATH, in_chunks, with_folder
from desktop.errors import PigeonholeError
from desktop.ml.progress import CancelToken, ProgressCallback

DEFAULT_NEIGHBOURS = 50
GROW_BLOCK = 256  # selected photos compared with the collection at once: 256 × N floats


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
    from desktop.core.duplicates import backbone_features
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


def similar_to(project: Project, image_id: int, n: int = DEFAULT_NEIGHBOURS,
               index: SimilarityIndex | None = None) -> list[tuple[int, float]]:
    """(image_id, cosine similarity) of the ``n`` photos most like ``image_id``, most similar first."""
    return (index or build_index(project)).neighbours(image_id, n)


def grow_selection(project: Project, image_ids: Iterable[int], n_per_photo: int = 5,
                   index: SimilarityIndex | None = None) -> list[int]:
    """The selection followed by the nearest neighbours it gains (``SimilarityIndex.grow``)."""
    return (index or build_index(project)).grow(image_ids, n_per_photo)


def find_image(project: Project, reference: str | int) -> int:
    """The id of the photo ``reference`` names: an image id, or the path of a photo in one of the folders."""
    with project.sessions() as session:
        if isinstance(reference, int) or str(reference).isdigit():
            image_id = session.get(Image, int(reference))
            if image_id is not None:
                return int(reference)
            if isinstance(reference, int):
                raise NotInIndex(f"There is no photo {reference} in the project.")
        given = Path(reference).expanduser()
        path = given.parent.resolve() / given.name  # folder roots are stored resolved
        for folder_id, root in session.execute(select(Folder.id, Folder.root)).all():
            try:
                relative = path.relative_to(Path(root))
            except ValueError:
                continue
            found = session.scalar(select(Image.id).where(Image.folder_id == folder_id,
                                                          Image.rel_path == relative.as_posix()))
            if found is not None:
                return int(found)
    raise NotInIndex(f"{reference} is not a photo of the project (give its path inside an added folder, or its "
                     "id).")


def paths_of(project: Project, image_ids: Iterable[int]) -> dict[int, Path]:
    """Each photo's file."""
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    paths: dict[int, Path] = {}
    with project.sessions() as session:
        for chunk in in_chunks(ids):
            query = with_folder(select(Image.id, IMAGE_PATH)).where(Image.id.in_(chunk))
            paths.update((image_id, path) for image_id, path in session.execute(query))
    return paths
