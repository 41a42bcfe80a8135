"""Near-duplicate photos: groups of (nearly) the same picture, from the backbone's cached features.

Exact copies share a content hash; near-duplicates (re-saved, resized, a burst of shots) have features
pointing the same way (cosine similarity above ``threshold``). A group with photos on both sides of the
train/validation split inflates validation accuracy: the model is tested on pictures it practically saw.
Features come from the same cache training fills, so on a trained project this costs seconds. Imports torch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from desktop.core.collection_features import SimilarityIndex, backbone_features, build_index
from desktop.core.project import Project
from desktop.db.models import Image
from desktop.db.queries import IMAGE_PATH, with_folder
from desktop.ml.features import ORIGINAL
from desktop.ml.grouping import NEAR_DUPLICATE_SIMILARITY, similarity_groups, unit_rows
from desktop.progress import CancelToken

DEFAULT_THRESHOLD = NEAR_DUPLICATE_SIMILARITY  # defined without torch, for the app's dialogs
_VAL_BLOCK = 1024  # validation photos compared with every training photo at once


@dataclass(frozen=True)
class DuplicateGroup:
    image_ids: list[int]
    paths: list[Path]
    splits: list[str | None]
    similarity: float  # the lowest link of the chain of similar photos that joined the group (1.0: exact copies)

    @property
    def straddles_split(self) -> bool:
        """Photos of the group in both training and validation: validation accuracy is flattered."""
        return "train" in self.splits and "val" in self.splits


def find_duplicates(project: Project, threshold: float = DEFAULT_THRESHOLD, backbone: str | None = None,
                    on_progress: Callable | None = None, cancel: CancelToken | None = None,
                    index: SimilarityIndex | None = None) -> list[DuplicateGroup]:
    """Groups of two or more readable photos that are the same or nearly the same picture, biggest first.
    ``index`` (the photos' features, ``similarity.build_index``) saves reading the feature cache again."""
    with project.sessions() as session:
        rows = session.execute(
            with_folder(select(Image.id, IMAGE_PATH, Image.content_hash, Image.split))
            .where(Image.error.is_(None), Image.missing.is_(False)).order_by(Image.id)).all()
    if len(rows) < 2:
        return []
    if index is None:
        index = build_index(project, backbone, on_progress, cancel)
    by_hash: dict[str, list[int]] = defaultdict(list)
    for position, row in enumerate(rows):
        by_hash[row.content_hash].append(position)
    # One feature vector per distinct content, in content-hash order: the groups and the similarity each
    # reports depend on the photos, not on the order they were imported in.
    owners = [positions[0] for _, positions in sorted(by_hash.items()) if rows[positions[0]].id in index]
    vectors = index.vectors[[index.row(rows[i].id) for i in owners]]
    found = similarity_groups(vectors, threshold, cancel)
    group_of = {rows[owner].content_hash: int(found.labels[k]) for k, owner in enumerate(owners)}
    link_of = {int(found.labels[k]): float(found.links[k]) for k in range(len(owners))}

    groups: dict[object, list[int]] = defaultdict(list)
    for content_hash, positions in by_hash.items():  # exact copies share a group (similarity 1.0) even unindexed
        groups[group_of.get(content_hash, content_hash)].extend(positions)
    result = [DuplicateGroup([rows[i].id for i in members], [rows[i].path for i in members],
                             [rows[i].split for i in members], round(link_of.get(key, 1.0), 4))
              for key, members in ((key, sorted(members)) for key, members in groups.items()) if len(members) > 1]
    return sorted(result, key=lambda g: (-len(g.image_ids), g.image_ids[0]))


def duplicates_across_split(project: Project, items, backbone: str,
                            threshold: float = DEFAULT_THRESHOLD) -> list[tuple[object, object, float]]:
    """(validation key, training key, similarity) for each validation photo that has a (near-)duplicate among
    the training photos. ``items`` are desktop.ml.train_record.TrainItem with features already cached (after
    training), so this is a matrix product, in blocks of validation photos so that its memory stays bounded."""
    val = [item for item in items if item.split == "val"]
    train = [item for item in items if item.split == "train"]
    if not val or not train:
        return []
    feature_set = backbone_features(project, [i.path for i in val + train], [i.content_hash for i in val + train],
                                    backbone)
    vectors = unit_rows(feature_set.features[:, ORIGINAL])
    vectors[~feature_set.ok] = 0  # an unreadable photo matches nothing
    val_vectors, train_vectors = vectors[:len(val)], vectors[len(val):]
    leaks = []
    for start in range(0, len(val), _VAL_BLOCK):
        similarity = val_vectors[start:start + _VAL_BLOCK] @ train_vectors.T
        best = similarity.argmax(axis=1)
        for i, j in enumerate(best.tolist()):
            if similarity[i, j] >= threshold:
                leaks.append((val[start + i].key, train[j].key, float(similarity[i, j])))
    return leaks
