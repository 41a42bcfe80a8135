"""Near-duplicate grouping (desktop.ml.grouping): the components of "similarity ≥ threshold", exactly as all
pairs would give them, without visiting all pairs, and cancellable between blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desktop.errors import Cancelled
from desktop.ml import grouping
from desktop.ml.grouping import similarity_groups, unit_rows


def all_pairs_groups(x: np.ndarray, threshold: float) -> np.ndarray:
    """The reference: every pair compared, components by plain union-find, labelled by their first row."""
    linked = x @ x.T >= np.float32(threshold)
    parent = list(range(len(x)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(linked), strict=True):
        a, b = root(int(i)), root(int(j))
        parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(len(x))])


def on_circle(degrees) -> np.ndarray:
    angles = np.radians(np.asarray(degrees, np.float64))
    return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks of a few rows, so small sets go through every path (chunks, big clusters, pairs of clusters)."""
    monkeypatch.setattr(grouping, "_ROWS", 7)
    monkeypatch.setattr(grouping, "_GATHER", 11)
    monkeypatch.setattr(grouping, "_MULTIPLY_ADDS", 64)


def test_a_chain_is_one_group_and_reports_its_weakest_link():
    # Ten degrees apart, joined at cos(12°): the ends are 40° apart, far below the threshold, yet one group.
    x = on_circle([0, 10, 20, 30, 40, 120])
    groups = similarity_groups(x, math.cos(math.radians(12)))
    assert groups.labels.tolist() == [0, 0, 0, 0, 0, 5]
    assert groups.links[:5] == pytest.approx(math.cos(math.radians(10)), abs=1e-6)
    assert groups.links[5] == 1.0


@pytest.mark.usefixtures("tiny_blocks")
def test_a_chain_visited_out_of_order_is_still_one_group():
    x = on_circle([40, 0, 120, 20, 10, 30])
    groups = similarity_groups(x, math.cos(math.radians(12)))
    assert groups.labels.tolist() == [0, 0, 2, 0, 0, 0]


@pytest.mark.usefixtures("tiny_blocks")
def test_cliques_far_apart_stay_apart():
    rng = np.random.default_rng(0)
    centres = unit_rows(rng.normal(size=(3, 16)))
    which = rng.integers(0, 3, 60)
    x = unit_rows(centres[which] + rng.normal(size=(60, 16)) * 0.01)
    groups = similarity_groups(x, 0.95)
    assert len(np.unique(groups.labels)) == 3
    for label in np.unique(groups.labels):
        assert len(np.unique(which[groups.labels == label])) == 1
    assert (groups.links > 0.95).all()


def test_a_link_exactly_at_the_threshold_joins_and_one_just_above_does_not():
    # Coordinates that are exact in float32: the dot product is exactly 0.5.
    x = np.array([[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, -0.5], [-0.5, -0.5, 0.5, 0.5]], np.float32)
    assert similarity_groups(x, 0.5).labels.tolist() == [0, 0, 2]
    assert similarity_groups(x, 0.5000001).labels.tolist() == [0, 1, 2]
    assert similarity_groups(x, 0.5).links[0] == 0.5


SHAPES = ["burst", "clusters", "drift", "scattered"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("threshold", [0.5, 0.9, 0.95, 0.99])
@pytest.mark.usefixtures("tiny_blocks")
def test_the_groups_are_those_of_all_pairs(shape, threshold):
    rng = np.random.default_rng([SHAPES.index(shape), round(threshold * 100)])
    n, dim = 150, 12
    if shape == "burst":  # near-identical shots with a few other pictures among them
        x = np.vstack([rng.normal(size=dim) + rng.normal(size=(n - 10, dim)) * 0.05, rng.normal(size=(10, dim))])
        x = x[rng.permutation(n)]
    elif shape == "clusters":
        centres = rng.normal(size=(5, dim))
        x = centres[rng.integers(0, 5, n)] + rng.normal(size=(n, dim)) * rng.uniform(0.05, 0.5)
    elif shape == "drift":  # a slow pan: each shot like the last, the ends unlike
        x = np.cumsum(rng.normal(size=(n, dim)) * 0.15, axis=0) + rng.normal(size=dim) * 3
    else:
        x = rng.normal(size=(n, dim))
    x = unit_rows(x)
    assert similarity_groups(x, threshold).labels.tolist() == all_pairs_groups(x, threshold).tolist()


def test_groups_of_nothing_and_of_one():
    assert similarity_groups(np.zeros((0, 4), np.float32), 0.9).labels.tolist() == []
    assert similarity_groups(on_circle([5]), 0.9).labels.tolist() == [0]


class CountingToken:
    """Set after ``limit`` polls; counts every poll."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit, self.polls = limit, 0

    def is_set(self) -> bool:
        self.polls += 1
        return self.limit is not None and self.polls > self.limit


@pytest.mark.usefixtures("tiny_blocks")
def test_cancel_is_polled_between_blocks_and_stops_the_grouping():
    rng = np.random.default_rng(1)
    burst = unit_rows(rng.normal(size=32) + rng.normal(size=(700, 32)) * 0.01)
    token = CountingToken()
    similarity_groups(burst, 0.95, token)
    assert token.polls >= 700 // 7  # at least once per block of rows: the work between polls is bounded
    for limit in (0, 3, token.polls // 2):
        stopping = CountingToken(limit)
        with pytest.raises(Cancelled):
            similarity_groups(burst, 0.95, stopping)
        assert stopping.polls == limit + 1  # raised at the first poll after it was set


def test_near_duplicate_groups_of_training_is_cancellable():
    from desktop.ml.crossval import near_duplicate_groups

    x = unit_rows(np.random.default_rng(2).normal(size=(40, 8)))
    with pytest.raises(Cancelled):
        near_duplicate_groups(x, cancel=CountingToken(0))
