"""Collection map: clusters stay apart in 2-D, the map is cached per set of photos, the lasso selects exactly
what it encloses."""

from __future__ import annotations

import numpy as np

from desktop.core import collection_map
from desktop.core.collection_map import compute_map, map_coordinates, points_in_polygon


def test_lasso_selects_exactly_the_enclosed_points():
    points = np.array([[0.5, 0.5], [0.2, 0.2], [0.8, 0.8], [0.45, 0.9], [0.9, 0.1], [0.05, 0.5]])
    # A concave "L": the points at (0.8, 0.8) and (0.9, 0.1) sit in its notch or outside.
    polygon = [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6), (0.7, 0.6), (0.7, 0.95), (0.1, 0.95)]
    assert points_in_polygon(points, polygon).tolist() == [True, True, False, True, False, False]
    assert not points_in_polygon(points, [(0, 0), (1, 1)]).any()  # two vertices enclose nothing


def test_pca_keeps_clusters_apart_and_is_repeatable():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, (50, 64)) + 3 * np.eye(64)[0]
    b = rng.normal(0, 0.1, (50, 64)) - 3 * np.eye(64)[0]
    xy = map_coordinates(np.vstack([a, b]))
    assert xy.shape == (100, 2) and xy.min() >= 0 and xy.max() <= 1
    assert abs(xy[:50, 0].mean() - xy[50:, 0].mean()) > 0.8  # the big direction is the first axis
    assert np.array_equal(xy, map_coordinates(np.vstack([a, b])))
    assert map_coordinates(np.zeros((0, 8))).shape == (0, 2)
    assert map_coordinates(np.ones((1, 8))).shape == (1, 2)


def test_map_of_a_project_is_cached_per_set_of_photos(trained_project, monkeypatch):
    placed = compute_map(trained_project)
    assert len(placed.image_ids) == 24 and placed.xy.shape == (24, 2) and placed.method == "PCA"
    assert len(list((trained_project.cache_dir / "maps").glob("*.npz"))) == 1

    def not_again(*_args, **_kwargs):
        raise AssertionError("the cached map should have been used")

    monkeypatch.setattr(collection_map, "map_coordinates", not_again)
    again = compute_map(trained_project)
    assert np.array_equal(again.xy, placed.xy) and np.array_equal(again.image_ids, placed.image_ids)


def test_a_named_pipe_in_the_map_cache_is_computed_over_not_read(trained_project):
    import os
    import threading

    placed = compute_map(trained_project)
    [cached] = (trained_project.cache_dir / "maps").glob("*.npz")
    cached.unlink()
    os.mkfifo(cached)  # np.load(path) waited for a writer for ever
    result = []
    worker = threading.Thread(target=lambda: result.append(compute_map(trained_project)), daemon=True)
    worker.start()
    worker.join(60)
    hung = worker.is_alive()
    if hung:  # release the stuck open() before failing
        os.close(os.open(cached, os.O_WRONLY | os.O_NONBLOCK))
    assert not hung, "reading the map cache hung on a named pipe"
    assert np.array_equal(result[0].xy, placed.xy) and cached.is_file()
