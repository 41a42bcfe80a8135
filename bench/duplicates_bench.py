"""Near-duplicate grouping on photos that are nearly all alike: the old all-pairs loop against
``desktop.ml.grouping.similarity_groups``, measured in the same run (issue #23, item 2).

    python -m bench.duplicates_bench [--photos 50000] [--others 1000] [--dim 1280] [--old-sizes 1000 2000 4000]

Features are given directly (no images, as when they are cached): a burst of near-identical unit vectors
(one picture plus noise, pairwise similarity about 0.99, every pair above the 0.95 threshold) with ``--others``
unrelated ones shuffled in, the shape of a burst of shots, scanned blank pages or an icon folder. For each of
``--old-sizes`` both implementations group the same features and the ratio is printed; then the new one alone
groups ``--photos`` (the old one is quadratic in the pairs above the threshold: 1.25 billion at 50,000).
Last, ``--distinct`` unrelated photos (nothing to join) check that the ordinary case did not get slower.
Time is the best of ``--repeat`` untraced runs; memory is the peak allocation (NumPy's included) during one more,
traced run (tracemalloc), on top of the features themselves.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

THRESHOLD = 0.95


def burst(photos: int, others: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(dim, dtype=np.float32)
    base /= np.linalg.norm(base)
    x = np.empty((photos + others, dim), np.float32)
    for start in range(0, photos, 8192):  # in chunks: generating must not be the memory peak
        stop = min(photos, start + 8192)
        x[start:stop] = base + rng.standard_normal((stop - start, dim), dtype=np.float32) * (0.1 / np.sqrt(dim))
    x[photos:] = rng.standard_normal((others, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x[rng.permutation(len(x))]


def old_groups(x: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """What find_duplicates and crossval.near_duplicate_groups did before: every pair above the threshold,
    one Python union-find step each (commit 44e9bc2 replaced it)."""
    parent = list(range(len(x)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, len(x), 2048):
        similarity = x[start:start + 2048] @ x.T
        rows, cols = np.nonzero(similarity >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if start + r < c:
                a, b = root(start + r), root(c)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(len(x))])


def new_groups(x: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    from desktop.ml.grouping import similarity_groups

    return similarity_groups(x, threshold).labels


def measure(run, x: np.ndarray, repeat: int, memory: bool = True) -> tuple[float, float | None, np.ndarray]:
    """(best seconds, peak MB allocated while grouping, labels). The memory is measured in a run of its own:
    tracing every allocation slows Python loops (the old way's) several times over."""
    best, labels = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        labels = run(x)
        best = min(best, time.perf_counter() - start)
    peak = None
    if memory:
        tracemalloc.start()
        run(x)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return best, peak, labels


def megabytes(peak: float | None) -> str:
    return "-" if peak is None else f"{peak:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=50_000)
    parser.add_argument("--others", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=1280, help="feature length (EfficientNet-Lite0: 1280)")
    parser.add_argument("--old-sizes", type=int, nargs="*", default=[1_000, 2_000, 4_000])
    parser.add_argument("--old-memory-up-to", type=int, default=2_000,
                        help="measure the old way's memory only up to this size (a traced run of it is slow)")
    parser.add_argument("--distinct", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)

    print(f"threshold {THRESHOLD}, {args.dim}-d features, best of {args.repeat}")
    new_groups(burst(500, 10, args.dim))  # warm up: the first products also start the BLAS threads
    print(f"{'near-identical':>14} {'others':>7} {'old s':>8} {'old MB':>8} {'new s':>8} {'new MB':>8} {'old/new':>8}")
    for size in args.old_sizes:
        x = burst(size, args.others // 10, args.dim)
        old_s, old_mb, old = measure(old_groups, x, args.repeat, memory=size <= args.old_memory_up_to)
        new_s, new_mb, new = measure(new_groups, x, args.repeat)
        assert np.array_equal(old, new), "the groups differ"
        print(f"{size:>14,} {args.others // 10:>7,} {old_s:>8.2f} {megabytes(old_mb):>8} {new_s:>8.2f} "
              f"{megabytes(new_mb):>8} {old_s / new_s:>8.0f}")
    x = burst(args.photos, args.others, args.dim)
    new_s, new_mb, new = measure(new_groups, x, args.repeat)
    groups = len(np.unique(new))
    print(f"{args.photos:>14,} {args.others:>7,} {'-':>8} {'-':>8} {new_s:>8.2f} {megabytes(new_mb):>8} {'':>8}"
          f"   {groups:,} groups; the features themselves: {x.nbytes / 2**20:.0f} MB")
    if args.distinct:
        rng = np.random.default_rng(1)
        x = rng.standard_normal((args.distinct, args.dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        old_s, old_mb, old = measure(old_groups, x, args.repeat)
        new_s, new_mb, new = measure(new_groups, x, args.repeat)
        assert np.array_equal(old, new), "the groups differ"
        print(f"distinct {args.distinct:,}: old {old_s:.2f} s {megabytes(old_mb)} MB, new {new_s:.2f} s "
              f"{megabytes(new_mb)} MB, "
              f"old/new {old_s / new_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
