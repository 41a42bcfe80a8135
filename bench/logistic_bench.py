"""How fast the frozen head's logistic regression fits: numpy + SciPy (desktop.ml.crossval) against the torch fit it
replaced (kept as the reference in tests/ml/test_logistic_vs_torch.py, which needs pytest and torch).

    nice python -m bench.logistic_bench                    # numpy's BLAS threads as they are
    OPENBLAS_NUM_THREADS=1 nice python -m bench.logistic_bench

Features like a backbone's (Gaussian classes, 1280 dimensions, EfficientNet-Lite0's width), one L2 strength per fit
and the whole cross-validation (5 folds × the L2 grid); the best of ``--repeat`` runs each, the torch fit on one
thread as the app ran it. Prints milliseconds, the loss evaluations of each fit and the largest probability gap.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import numpy as np

from desktop.ml import crossval
from desktop.ml.calibration import softmax

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "ml" / "test_logistic_vs_torch.py"
SIZES = ((300, 1280, 5), (1000, 1280, 10), (3000, 1280, 10))


def reference():
    spec = importlib.util.spec_from_file_location("logistic_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def features(rows: int, dim: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 0.3 + 1
    labels = rng.integers(classes, size=rows)
    return (centres[labels] + rng.normal(size=(rows, dim)) * 2).astype(np.float32), labels


def best_of(repeat: int, run) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times) * 1000, result


def one_fit(torch_fit, rows: int, dim: int, classes: int, l2: float, repeat: int) -> None:
    x, y = features(rows, dim, classes)
    seen: list[int] = []

    def ours():
        seen.clear()
        return crossval.fit_logistic(x, y, classes, l2, on_iteration=lambda *_: seen.append(1))

    ours_ms, head = best_of(repeat, ours)
    torch_ms, reference_head = best_of(repeat, lambda: torch_fit(x, y, classes, l2))
    gap = np.abs(softmax(head.logits(x)) - softmax(reference_head.logits(x))).max()
    print(f"{rows:>8} x {dim} x {classes:<3} | {ours_ms:6.0f} ms {len(seen):3d} evals | {torch_ms:6.0f} ms | {gap:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--l2", type=float, default=0.1)
    args = parser.parse_args()
    torch_fit = reference().torch_fit_logistic
    torch_fit(*features(20, 8, 2), 2, args.l2)  # torch's first call pays for its start-up
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}, "
          f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    print(f"{'rows x dims x classes':>22} | {'numpy+scipy':>19} | {'torch':>9} | max |Δp|")
    for rows, dim, classes in SIZES:
        one_fit(torch_fit, rows, dim, classes, args.l2, args.repeat)
    rows, dim, classes = SIZES[1]
    x, y = features(rows, dim, classes, seed=1)
    ours_ms, ours = best_of(1, lambda: crossval.cross_validate(x, y, classes))
    fit, score = crossval.fit_logistic, crossval.log_loss
    crossval.fit_logistic = torch_fit
    try:
        torch_ms, theirs = best_of(1, lambda: crossval.cross_validate(x, y, classes))
    finally:
        crossval.fit_logistic, crossval.log_loss = fit, score
    print(f"cross-validation {rows} x {dim} x {classes}, {len(crossval.L2_GRID)} strengths x {ours.folds} folds: "
          f"numpy+scipy {ours_ms / 1000:.1f} s (L2 {ours.l2}), torch {torch_ms / 1000:.1f} s (L2 {theirs.l2})")


if __name__ == "__main__":
    main()
