"""More like this and the collection map at collection scale: random feature vectors, no photos needed.

    python -m bench.similarity_bench [--sizes 20000 100000] [--dim 1280] [--repeat 20]

For each size N, ``N × dim`` random float32 vectors (the backbone's feature width) and times, best of
``--repeat``:

  (a) query     SimilarityIndex.neighbours(image, 50): one matrix-vector product over the unit vectors kept
                in memory, then the top 50 by argpartition
  (b) baseline  what a script without an index does per query: normalise every row, multiply, argsort
  (c) grow      SimilarityIndex.grow of a 20-photo selection, 5 neighbours each
  (d) map       collection_map.map_coordinates (randomised-SVD PCA to 2-D), once
  (e) exact PCA the covariance matrix and numpy.linalg.eigh: the textbook PCA, once

and prints the times, (a)/(b) and (d)/(e), and whether the map's axes agree with the exact PCA's (|cosine| of
the components' coordinates).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from desktop.core.collection_map import map_coordinates
from desktop.core.similarity import SimilarityIndex


def best_ms(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def brute_force(vectors: np.ndarray, row: int, n: int) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ unit[row]
    return np.argsort(-scores)[1:n + 1]


def exact_pca(vectors: np.ndarray) -> np.ndarray:
    centred = vectors - vectors.mean(axis=0)
    _, components = np.linalg.eigh(centred.T @ centred)
    return centred @ components[:, ::-1][:, :2]


def measure(size: int, dim: int, repeat: int) -> dict:
    rng = np.random.default_rng(size)
    # Like features: 50 clusters plus noise, with variance falling off over the dimensions (a spectrum that
    # decays, as a network's features have), so the map has a top two directions to find.
    centres = rng.standard_normal((50, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 50, size)] + 0.5 * rng.standard_normal((size, dim)).astype(np.float32)
    vectors *= (1.0 / np.sqrt(1.0 + np.arange(dim, dtype=np.float32)))
    start = time.perf_counter()
    index = SimilarityIndex.from_vectors(range(size), vectors)
    build_ms = 1000 * (time.perf_counter() - start)
    query = best_ms(lambda: index.neighbours(7, 50), repeat)
    baseline = best_ms(lambda: brute_force(vectors, 7, 50), max(3, repeat // 4))
    assert [i for i, _ in index.neighbours(7, 10)] == brute_force(vectors, 7, 10).tolist()
    selection = rng.choice(size, 20, replace=False).tolist()
    grow = best_ms(lambda: index.grow(selection, 5), max(3, repeat // 4))
    start = time.perf_counter()
    xy = map_coordinates(vectors)
    map_ms = 1000 * (time.perf_counter() - start)
    start = time.perf_counter()
    exact = exact_pca(vectors)
    exact_ms = 1000 * (time.perf_counter() - start)
    agreement = [abs(float(np.corrcoef(xy[:, k], exact[:, k])[0, 1])) for k in (0, 1)]
    return {"size": size, "dim": dim, "index_build_ms": round(build_ms, 1), "query_ms": round(query, 2),
            "brute_force_ms": round(baseline, 2), "query_vs_brute_force": round(query / baseline, 3),
            "grow_20x5_ms": round(grow, 1), "map_ms": round(map_ms, 1), "exact_pca_ms": round(exact_ms, 1),
            "map_vs_exact_pca": round(map_ms / exact_ms, 3), "map_axes_agree": [round(a, 4) for a in agreement]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    for size in args.sizes:
        print(json.dumps(measure(size, args.dim, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
