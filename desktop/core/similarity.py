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
from pathlib import Path

from sqlalchemy import select

from desktop.core.collection_features import (
    DEFAULT_NEIGHBOURS,
    NotInIndex,
    SimilarityIndex,
    build_index,
    project_backbone,
)
from desktop.core.project import Project
from desktop.db.models import Folder, Image
from desktop.db.queries import IMAGE_PATH, in_chunks, with_folder

__all__ = ["DEFAULT_NEIGHBOURS", "NotInIndex", "SimilarityIndex", "build_index", "find_image", "grow_selection",
           "paths_of", "project_backbone", "similar_to"]

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
