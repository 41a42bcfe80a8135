"""Groups of (nearly) the same picture: connected components of "cosine similarity ≥ threshold", without
visiting every pair.

Listing every pair above the threshold is quadratic in the photos that are alike: 50,000 shots of one burst
are 1.25 billion pairs, minutes and gigabytes. The components come out the same from far fewer products:

1. **Leaders.** Rows are visited in order. A row within the threshold of a leader joins the most similar one
   (that is an edge of the graph, so it is in the leader's group); otherwise it becomes a leader itself. A
   cluster's radius is the largest angle between its leader and a member (at most θ, the threshold's angle).
2. **Links between clusters.** Angles between unit vectors obey the triangle inequality, so a member x of
   cluster A and a member y of cluster B are within θ of each other only if angle(a, b) ≤ r_A + θ + r_B, and
   then angle(x, b) ≤ θ + r_B and angle(y, a) ≤ θ + r_A. Leaders are never within θ of each other, so two
   one-photo clusters never link: only pairs with a larger cluster are checked, on the members those bounds
   leave, block by block, stopping at the first link.

A burst of near-identical photos is one cluster: N × (a few leaders) products. Distinct photos are all
leaders: half the products of the all-pairs matrix, and nothing else. Every product is a bounded block
(cancel is polled between blocks), and the pairs above the threshold are never listed (only pairs of nearby
clusters are). The group of a row, and the link it reports, depend on the rows' order: callers give them in an
order fixed by content (core.duplicates sorts by content hash), so the same photos give the same groups.

Pure NumPy (no torch), so the core can group photos without loading the ML stack.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from desktop.progress import CancelToken, check_cancel

NEAR_DUPLICATE_SIMILARITY = 0.95  # the app's default: photos this alike are nearly the same picture
_ROWS = 1024  # rows of a block; its columns are chunked so that one product stays short
_MULTIPLY_ADDS = 1 << 31  # per product (~0.1 s on two busy cores): cancel lands well within a second
_GATHER = 8192  # rows copied out of the vectors at once (8192 × 1280 floats: 42 MB)
_SLACK = 1e-4  # float32 rounding of a dot product; the pruning bounds are loosened by it, never tightened


@dataclass(frozen=True)
class Groups:
    labels: np.ndarray  # (N,) int64: the smallest row index of the row's group
    links: np.ndarray  # (N,) float32: the lowest similarity among the links that joined the row's group (1.0 alone)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def similarity_groups(vectors: np.ndarray, threshold: float, cancel: CancelToken | None = None) -> Groups:
    """Rows of ``vectors`` (unit length) joined whenever their dot product is ≥ ``threshold``, transitively."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    if n == 0:
        return Groups(np.zeros(0, np.int64), np.zeros(0, np.float32))
    t = np.float32(threshold)
    leader_of, star = _assign_leaders(x, t, cancel)
    leaders, cluster_of = np.unique(leader_of, return_inverse=True)
    sizes = np.bincount(cluster_of, minlength=len(leaders))
    radius = np.zeros(len(leaders))
    np.maximum.at(radius, cluster_of, np.arccos(np.clip(star.astype(np.float64), -1.0, 1.0)))
    link = np.ones(len(leaders), np.float32)
    np.minimum.at(link, cluster_of, star)
    clusters = _ClusterForest(link)
    members = np.split(np.argsort(cluster_of, kind="stable"), np.cumsum(sizes)[:-1])
    theta = math.acos(min(1.0, max(-1.0, float(threshold))))
    _link_clusters(x, t, theta, leaders, sizes, radius, members, clusters, cancel)
    root = np.array([clusters.find(c) for c in range(len(leaders))], np.int64)[cluster_of]
    first = np.full(len(leaders), n, np.int64)
    np.minimum.at(first, root, np.arange(n))
    return Groups(first[root], np.asarray(clusters.link, np.float32)[root])


def _assign_leaders(x: np.ndarray, t: np.float32, cancel: CancelToken | None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's leader (a row index) and its similarity to it (1.0 for a leader)."""
    n, dim = x.shape
    leader_of = np.empty(n, np.int64)
    star = np.ones(n, np.float32)
    buffer = np.empty((min(n, 256), dim), np.float32)  # the leaders' vectors, grown by doubling
    rows_of: list[int] = []
    for start in range(0, n, _ROWS):
        stop = min(n, start + _ROWS)
        block = x[start:stop]
        best = np.full(stop - start, -np.inf, np.float32)
        best_leader = np.zeros(stop - start, np.int64)
        for begin, end in _column_chunks(len(block), len(rows_of), dim):
            check_cancel(cancel)
            sims = block @ buffer[begin:end].T
            column = sims.argmax(axis=1)
            value = sims[np.arange(len(block)), column]
            better = value > best
            best[better], best_leader[better] = value[better], column[better] + begin
        covered = best >= t
        leaders = np.asarray(rows_of, np.int64)
        leader_of[start:stop][covered] = leaders[best_leader[covered]] if len(leaders) else 0
        star[start:stop][covered] = best[covered]
        rest = np.flatnonzero(~covered)
        if len(rest) == 0:
            continue
        check_cancel(cancel)
        lead, similarity, new = _greedy_leaders(block[rest], t)
        leader_of[start + rest] = start + rest[lead]
        star[start + rest] = similarity
        while len(rows_of) + len(new) > len(buffer):
            buffer = np.concatenate([buffer, np.empty_like(buffer)])
        buffer[len(rows_of):len(rows_of) + len(new)] = block[rest[new]]
        rows_of.extend((start + rest[new]).tolist())
    return leader_of, star


def _greedy_leaders(rows: np.ndarray, t: np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leaders among ``rows`` alone, greedily in order: each row's leader (a position), its similarity to it, and
    the leaders' positions (ascending)."""
    lead = np.arange(len(rows))
    similarity = np.ones(len(rows), np.float32)
    # The first row leads all it covers: in a burst that is nearly every row, for one row of products.
    first = rows @ rows[0]
    joined = first >= t
    joined[0] = True
    lead[joined], similarity[joined] = 0, first[joined]
    rest = np.flatnonzero(~joined)
    if len(rest):
        inner = rows[rest] @ rows[rest].T
        hits = inner >= t
        np.fill_diagonal(hits, False)
        open_rows = hits.any(axis=1)  # a row near none of the others leads itself: no need to visit it
        for k in np.flatnonzero(open_rows).tolist():
            if open_rows[k]:
                joining = open_rows & hits[k]
                open_rows &= ~joining
                open_rows[k] = False
                lead[rest[joining]], similarity[rest[joining]] = rest[k], inner[k, joining]
    similarity[lead == np.arange(len(rows))] = 1.0
    return lead, similarity, np.flatnonzero(lead == np.arange(len(rows)))


def _link_clusters(x: np.ndarray, t: np.float32, theta: float, leaders: np.ndarray, sizes: np.ndarray,
                   radius: np.ndarray, members: list[np.ndarray], clusters: _ClusterForest,
                   cancel: CancelToken | None) -> None:
    """Merge the clusters that have a member within the threshold of one another (see the module docstring)."""
    dim = x.shape[1]
    pairs_a, pairs_b = _candidate_pairs(x, leaders, sizes, radius, theta, cancel)
    bounds = np.searchsorted(pairs_a, np.arange(len(leaders) + 1))
    for a in np.unique(pairs_a).tolist():
        check_cancel(cancel)
        near = [b for b in pairs_b[bounds[a]:bounds[a + 1]].tolist() if clusters.find(a) != clusters.find(b)]
        if not near:
            continue
        columns = np.concatenate([members[b] for b in near])
        if len(columns) <= _GATHER and sizes[a] * len(columns) * dim <= _MULTIPLY_ADDS:
            # Small clusters: every member pair in one product.
            best = (x[members[a]] @ x[columns].T).max(axis=0)
            per_cluster = np.maximum.reduceat(best, np.cumsum([0] + [int(sizes[b]) for b in near])[:-1])
            for b, value in zip(near, per_cluster.tolist(), strict=True):
                if value >= t:
                    clusters.merge(a, b, value)
            continue
        for b in near:
            if clusters.find(a) != clusters.find(b):
                _link_pair(x, t, theta, leaders, radius, members, clusters, a, b, cancel)


def _candidate_pairs(x: np.ndarray, leaders: np.ndarray, sizes: np.ndarray, radius: np.ndarray, theta: float,
                     cancel: CancelToken | None) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) for every larger cluster a and cluster b whose leaders are close enough for a member of each to be
    within θ of the other; each pair of larger clusters once (a < b). Sorted by a, then b."""
    larger = np.flatnonzero(sizes > 1)
    found_a, found_b = [], []
    for rows in _row_chunks(larger):
        for begin, end in _column_chunks(len(rows), len(leaders), x.shape[1]):
            check_cancel(cancel)
            sims = x[leaders[rows]] @ x[leaders[begin:end]].T
            bound = np.cos(np.minimum(np.pi, radius[rows, None] + theta + radius[None, begin:end])) - _SLACK
            a, b = np.nonzero(sims >= bound)
            a, b = rows[a], b + begin
            keep = (a != b) & ((sizes[b] == 1) | (b > a))
            found_a.append(a[keep])
            found_b.append(b[keep])
    if not found_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = np.concatenate(found_a), np.concatenate(found_b)
    order = np.lexsort((b, a))
    return a[order], b[order]


def _link_pair(x: np.ndarray, t: np.float32, theta: float, leaders: np.ndarray, radius: np.ndarray,
               members: list[np.ndarray], clusters: _ClusterForest, a: int, b: int,
               cancel: CancelToken | None) -> None:
    """Merge clusters ``a`` and ``b`` if a member of one is within the threshold of a member of the other."""
    side_a = _within(x, members[a], leaders[b], theta + radius[b], cancel)
    side_b = _within(x, members[b], leaders[a], theta + radius[a], cancel)
    if len(side_a) == 0 or len(side_b) == 0:
        return
    for rows in _row_chunks(side_a):
        for begin, end in _column_chunks(len(rows), len(side_b), x.shape[1]):
            check_cancel(cancel)
            best = float((x[rows] @ x[side_b[begin:end]].T).max())
            if best >= t:
                clusters.merge(a, b, best)
                return


def _within(x: np.ndarray, rows: np.ndarray, centre: int, angle: float, cancel: CancelToken | None) -> np.ndarray:
    """The ``rows`` within ``angle`` of row ``centre``."""
    bound = math.cos(min(math.pi, angle)) - _SLACK
    kept = []
    for chunk in _row_chunks(rows, _GATHER):
        check_cancel(cancel)
        kept.append(chunk[x[chunk] @ x[centre] >= bound])
    return np.concatenate(kept) if kept else rows[:0]


def _row_chunks(rows: np.ndarray, size: int = _ROWS) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _column_chunks(rows: int, columns: int, dim: int) -> Iterator[tuple[int, int]]:
    """Column ranges such that ``rows`` × columns × ``dim`` multiply-adds stay within one product's budget."""
    width = min(_GATHER, max(256, _MULTIPLY_ADDS // max(1, rows * dim)))
    for begin in range(0, columns, width):
        yield begin, min(columns, begin + width)


class _ClusterForest:
    """Union-find over clusters, keeping per group the lowest link that joined it."""

    def __init__(self, link: np.ndarray) -> None:
        self.parent = list(range(len(link)))
        self.link = [float(value) for value in link]

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def merge(self, a: int, b: int, similarity: float) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        low, high = min(ra, rb), max(ra, rb)
        self.parent[high] = low
        self.link[low] = min(self.link[low], self.link[high], similarity)
