"""Active learning: does labelling the photos the model is least sure of beat labelling photos at random?

    python -m bench.active_learning_bench [--pool-per-class 200] [--test-per-class 100] [--seed-per-class 2]
                                          [--batch 20] [--rounds 10] [--seeds 0,1,2] [--strategies margin,random]

Fashion-MNIST (Debian's dataset-fashion-mnist, 10 classes, upscaled to 96-px PNGs under bench/out/): a pool of
``--pool-per-class`` training images per class and a fixed test set of ``--test-per-class`` t10k images per class.
Their features from the default backbone (EfficientNet-Lite0, bundled ImageNet weights, frozen) are computed once
(the feature cache in bench/out/feature-cache; later runs reuse it). Each run starts from the same small labelled
seed set (``--seed-per-class`` random images per class), then for ``--rounds`` rounds trains the linear head with
``desktop.ml.linear_probe.fit_linear_head`` (the frozen mode's head training, as in the app), measures test accuracy,
predicts the unlabelled pool and "labels" ``--batch`` more images chosen by each strategy:

  margin   smallest gap between the two most likely classes first (uncertainty sampling)
  entropy  highest entropy of the predicted probabilities first
  random   uniformly at random

It prints test accuracy per round for every strategy (averaged over ``--seeds``), then how many labels each
uncertainty strategy needed to reach random sampling's final accuracy and the ratio to random's label count
(aim: <= 0.7x).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from bench import fashion_mnist

OUT_DIR = Path(__file__).resolve().parent / "out"
IMAGE_SIZE = 96
STRATEGIES = ("margin", "entropy", "random")


# --- data -----------------------------------------------------------------------------------------------------

def image_folder(split: str, per_class: int) -> Path:
    """class_name/image.png tree of ``per_class`` images per class from ``split`` (cached under bench/out/)."""
    root = OUT_DIR / f"active-{split}-{per_class}"
    if not (root / "complete").is_file():
        shutil.rmtree(root, ignore_errors=True)
        fashion_mnist.write_folder(root, per_class, size=IMAGE_SIZE, split=split)
        (root / "complete").write_text("")
    return root


def folder_features(root: Path, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) frozen default-backbone features and (N,) labels (index into CLASS_NAMES) of a folder tree."""
    from desktop.io.images import content_hash
    from desktop.ml.backbones import (
        DEFAULT_BACKBONE,
        build_feature_extractor,
        get_backbone,
        require_weights,
        weights_identity,
    )
    from desktop.ml.features import ORIGINAL, extract_features, open_feature_cache

    paths, labels = [], []
    for label, name in enumerate(fashion_mnist.CLASS_NAMES):
        for path in sorted((root / name).glob("*.png")) if (root / name).is_dir() else []:
            paths.append(path)
            labels.append(label)
    spec = get_backbone(DEFAULT_BACKBONE)
    weights = require_weights(spec.name)
    cache = open_feature_cache(OUT_DIR / "feature-cache", spec, weights_identity(weights))
    hashes = [content_hash(path.read_bytes()) for path in paths]
    extractor = build_feature_extractor(spec, weights)[0]
    started = time.perf_counter()
    feature_set = extract_features(extractor, spec, paths, hashes, cache=cache, num_workers=workers)
    if not feature_set.ok.all():
        raise RuntimeError(f"unreadable images: {feature_set.errors}")
    print(f"  {root.name}: {len(paths)} images, {feature_set.computed} features computed, {feature_set.reused} "
          f"reused ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return feature_set.features[:, ORIGINAL], np.array(labels)


# --- the loop -------------------------------------------------------------------------------------------------

def scores(probabilities: np.ndarray, strategy: str, rng: np.random.Generator) -> np.ndarray:
    """Priority per row: the highest is labelled first."""
    if strategy == "margin":
        top2 = np.sort(probabilities, axis=1)[:, -2:]
        return -(top2[:, 1] - top2[:, 0])
    if strategy == "entropy":
        return -(probabilities * np.log(np.clip(probabilities, 1e-12, 1.0))).sum(1)
    return rng.random(len(probabilities))


def run(strategy: str, seed: int, pool: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
        seed_per_class: int, batch: int, rounds: int) -> list[tuple[int, float]]:
    """(labels, test accuracy) after each round, round 0 being the seed set."""
    import torch

    from desktop.ml.linear_probe import fit_linear_head
    from desktop.ml.options import TrainingOptions

    pool_x, pool_y = pool
    test_x, test_y = test
    classes = len(fashion_mnist.CLASS_NAMES)
    seed_rng = np.random.default_rng(seed)  # the same seed set for every strategy
    labelled = np.concatenate([seed_rng.choice(np.flatnonzero(pool_y == c), seed_per_class, replace=False)
                               for c in range(classes)])
    pick_rng = np.random.default_rng([seed, 1])
    curve = []
    for round_ in range(rounds + 1):
        head = fit_linear_head(pool_x[labelled], pool_y[labelled], classes, TrainingOptions(seed=seed, device="cpu"))
        with torch.inference_mode():
            accuracy = float((head(torch.from_numpy(test_x)).argmax(1).numpy() == test_y).mean())
            curve.append((len(labelled), accuracy))
            if round_ == rounds:
                break
            unlabelled = np.setdiff1d(np.arange(len(pool_y)), labelled)
            probabilities = head(torch.from_numpy(pool_x[unlabelled])).softmax(1).numpy()
        chosen = unlabelled[np.argsort(-scores(probabilities, strategy, pick_rng), kind="stable")[:batch]]
        labelled = np.concatenate([labelled, chosen])
    return curve


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> tuple[int | None, float | None]:
    """Labels of the first round at or above ``target``, and linearly interpolated between rounds."""
    previous = None
    for labels, accuracy in curve:
        if accuracy >= target:
            if previous is None:
                return labels, float(labels)
            (labels0, accuracy0) = previous
            return labels, labels0 + (labels - labels0) * (target - accuracy0) / (accuracy - accuracy0)
        previous = (labels, accuracy)
    return None, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool-per-class", type=int, default=200)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed-per-class", type=int, default=2)
    parser.add_argument("--batch", type=int, default=20, help="labels added per round")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated; curves are averaged over them")
    parser.add_argument("--strategies", default="margin,entropy,random",
                        help=f"comma-separated, from {', '.join(STRATEGIES)}; random is the baseline")
    parser.add_argument("--workers", type=int, default=1, help="image-decoding processes for the features")
    args = parser.parse_args(argv)
    if not fashion_mnist.available():
        print("needs Debian's dataset-fashion-mnist (apt install dataset-fashion-mnist)", file=sys.stderr)
        return 1
    strategies = [s for s in args.strategies.split(",") if s]
    if "random" not in strategies:
        strategies.append("random")
    seeds = [int(s) for s in args.seeds.split(",")]

    print("features (EfficientNet-Lite0, frozen):", file=sys.stderr)
    pool = folder_features(image_folder("train", args.pool_per_class), args.workers)
    test = folder_features(image_folder("t10k", args.test_per_class), args.workers)
    print(f"fashion-mnist: pool {len(pool[1])} train images, test {len(test[1])} t10k images; seed set "
          f"{args.seed_per_class}/class, +{args.batch} per round, {args.rounds} rounds, seeds {seeds}")

    import torch

    # The heads are small: one thread is as fast, and far faster than two when another process wants a core.
    torch.set_num_threads(1)
    started = time.perf_counter()
    curves: dict[str, np.ndarray] = {}  # strategy -> (seeds, rounds + 1) accuracy
    labels = None
    for strategy in strategies:
        runs = []
        for seed in seeds:
            runs.append(run(strategy, seed, pool, test, args.seed_per_class, args.batch, args.rounds))
            print(f"  {strategy} seed {seed}: " + " ".join(f"{a:.3f}" for _, a in runs[-1])
                  + f" ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        labels = [count for count, _ in runs[0]]
        curves[strategy] = np.array([[accuracy for _, accuracy in curve] for curve in runs])
    seconds = time.perf_counter() - started

    print(f"\ntest accuracy (mean over {len(seeds)} seeds; min-max in brackets)")
    print("labels  " + "".join(f"{s:>22s}" for s in strategies))
    for index, count in enumerate(labels):
        cells = [f"{c[:, index].mean():.3f} [{c[:, index].min():.3f}-{c[:, index].max():.3f}]"
                 for c in curves.values()]
        print(f"{count:6d}  " + "".join(f"{cell:>22s}" for cell in cells))
    target = float(curves["random"][:, -1].mean())
    print(f"\nrandom sampling's final accuracy: {target:.3f} with {labels[-1]} labels")
    for strategy in strategies:
        if strategy == "random":
            continue
        mean_curve = list(zip(labels, curves[strategy].mean(0).tolist(), strict=True))
        reached, interpolated = labels_to_reach(mean_curve, target)
        if reached is None:
            print(f"{strategy:8s} did not reach it within {labels[-1]} labels")
            continue
        print(f"{strategy:8s} reached it with {reached} labels (interpolated {interpolated:.0f}): "
              f"{reached / labels[-1]:.2f}x of random's labels (interpolated {interpolated / labels[-1]:.2f}x; "
              f"aim <= 0.7x)")
        per_seed = []  # the same question asked of each seed's own pair of curves
        for own, baseline in zip(curves[strategy], curves["random"], strict=True):
            reached, _ = labels_to_reach(list(zip(labels, own.tolist(), strict=True)), float(baseline[-1]))
            per_seed.append(f"{reached / labels[-1]:.2f}x" if reached is not None else "not reached")
        print(f"{'':8s} per seed: {', '.join(per_seed)}")
    print(f"({len(strategies) * len(seeds) * (args.rounds + 1)} heads trained in {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
