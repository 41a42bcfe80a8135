"""More like this: near-copies of a photo come first; "select similar" grows a selection by its neighbours."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from desktop.core.importer import import_folder
from desktop.core.similarity import NotInIndex, SimilarityIndex, build_index, find_image, grow_selection, similar_to


def _index() -> SimilarityIndex:
    # Two tight clusters on the x and y axes, and one photo between them.
    vectors = np.array([[1, 0, 0], [0.99, 0.1, 0], [0.95, 0.3, 0],  # 10, 11, 12
                        [0, 1, 0], [0.1, 0.99, 0],  # 20, 21
                        [0.7, 0.7, 0.1]], dtype=np.float32)  # 30
    return SimilarityIndex.from_vectors([10, 11, 12, 20, 21, 30], vectors * 7)


def test_neighbours_are_most_similar_first_and_leave_the_photo_out():
    index = _index()
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1)
    result = index.neighbours(10, n=3)
    assert [image_id for image_id, _ in result] == [11, 12, 30]
    assert result[0][1] > result[1][1] > result[2][1]
    assert [image_id for image_id, _ in index.neighbours(20, n=100)][:2] == [21, 30]
    assert len(index.neighbours(20, n=100)) == 5
    with pytest.raises(NotInIndex):
        index.neighbours(99)


def test_grow_adds_each_pick_s_nearest_outside_the_selection():
    index = _index()
    assert index.grow([10], 1) == [10, 11]
    assert index.grow([10, 20], 1) == [10, 20, 11, 21]
    assert index.grow([10, 11], 2) == [10, 11, 12, 30]
    assert index.grow([10, 99], 1) == [10, 99, 11]  # a photo without features stays selected
    assert index.grow([10, 11, 12, 20, 21, 30], 3) == [10, 11, 12, 20, 21, 30]


def test_near_copies_are_found_first(trained_project):
    photos = trained_project.path.parent / "photos"
    original = photos / "discs" / "discs_01.jpg"
    image = cv2.imread(str(original))
    cv2.imwrite(str(photos / "stripes" / "bigger_01.png"), cv2.resize(image, None, fx=2, fy=2))
    cv2.imwrite(str(photos / "checks" / "brighter_01.jpg"), cv2.convertScaleAbs(image, alpha=1.0, beta=15))
    import_folder(trained_project, photos, labels_from_subfolders=True)
    original_id = find_image(trained_project, str(original))
    copies = {find_image(trained_project, str(photos / "stripes" / "bigger_01.png")),
              find_image(trained_project, str(photos / "checks" / "brighter_01.jpg"))}
    assert find_image(trained_project, str(original_id)) == original_id
    index = build_index(trained_project)
    assert len(index) == 26
    result = similar_to(trained_project, original_id, n=5, index=index)
    assert {image_id for image_id, _ in result[:2]} == copies
    assert result[1][1] > 0.95 > result[2][1]
    grown = grow_selection(trained_project, [original_id], 2, index=index)
    assert grown[0] == original_id and set(grown[1:]) == copies
    with pytest.raises(NotInIndex, match="not a photo of the project"):
        find_image(trained_project, str(photos / "nowhere.jpg"))
