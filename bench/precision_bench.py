"""Sorting by precision on a first project: how much the default rule sorts, and how precise what it sorts is.

    nice .venv/bin/python -m bench.precision_bench [--labelled 20] [--new 40] [--rotations 3]

The protocol of issue #21: per data set and rotation, ``--labelled`` photos per class are the labelled project
(a first project: ~20 per class), ``--new`` others per class are the unlabelled photos to sort. The app's frozen
training runs on the labelled ones (Lite0 features through the app's feature path, cross-validated logistic
regression, calibration kept only where it helps: ``calibration.calibrate``, final head on every photo); the new
photos are predicted by the final head and sorted by each rule at 90/95/99 %:

  rule      the app's rule (``desktop.ml.precision``: per class, pooled and calibration-shrunk held-out precision)
  wilson    the rule it replaced (per class, Wilson lower bound, z = 2, first stretch from the top)
  oracle    one threshold chosen after the fact on the new photos' own predictions: the lowest whose realized
            precision still reaches the target (the most any single-threshold rule could sort)

coverage = share of the new photos put in a class folder; precision = share of those in their true class.
``expected`` is the preview's expected precision (1 - expected mistakes / sorted) for the app's rule, and ``in
range`` how many runs' actual number of mistakes fell inside the preview's 90 % range ("likely 1 to 6").

Data (real, on disk): Debian's tuxpaint-stamps-default clip art (categories with at least 40 PNGs), Fashion-MNIST
(bench/fashion_mnist.py) and crops of scikit-image's sample photos (12 photos; each crop a random 35-75 % region,
flipped at random: "which photo is this part of").
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import fashion_mnist
from bench.import_bench import OUT_DIR

STAMPS = Path("/usr/share/tuxpaint/stamps")
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "coins.png",
          "hubble_deep_field.jpg", "gravel.png", "brick.png", "grass.png", "camera.png", "moon.png")
TARGETS = (0.90, 0.95, 0.99)


@dataclass
class DataSet:
    name: str
    paths: list[Path]
    labels: np.ndarray


def clip_art(per_class: int) -> DataSet:
    rng = np.random.default_rng(0)
    paths, labels = [], []
    categories = sorted(d for d in STAMPS.iterdir() if d.is_dir() and len(list(d.rglob("*.png"))) >= per_class)
    for label, folder in enumerate(categories):
        files = sorted(folder.rglob("*.png"))
        paths += [files[i] for i in sorted(rng.permutation(len(files))[:per_class])]
        labels += [label] * per_class
    return DataSet(f"clip art ({len(categories)} classes)", paths, np.array(labels))


def fashion(per_class: int) -> DataSet:
    written = fashion_mnist.write_folder(OUT_DIR / f"precision-fashion-{per_class}", per_class)
    names = list(fashion_mnist.CLASS_NAMES)
    labels = np.array([names.index(n) for _, n in written])
    return DataSet("Fashion-MNIST (10 classes)", [p for p, _ in written], labels)


def photo_crops(per_class: int) -> DataSet:
    import cv2
    import skimage

    data_dir = Path(skimage.__file__).parent / "data"
    rng = np.random.default_rng(0)
    folder = OUT_DIR / f"precision-photos-{per_class}"
    paths, labels = [], []
    for label, name in enumerate(PHOTOS):
        image = cv2.imread(str(data_dir / name), cv2.IMREAD_COLOR)  # BGR, grey photos as three channels
        h, w = image.shape[:2]
        (folder / Path(name).stem).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            path = folder / Path(name).stem / f"{i:03d}.jpg"
            scale = rng.uniform(0.35, 0.75)
            ch, cw = int(h * scale), int(w * scale)
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            crop = image[y:y + ch, x:x + cw]
            crop = crop[:, ::-1] if rng.random() < 0.5 else crop
            if not path.exists():
                cv2.imwrite(str(path), cv2.resize(np.ascontiguousarray(crop), (160, 160)))
            paths.append(path)
            labels.append(label)
    return DataSet(f"photo crops ({len(PHOTOS)} classes)", paths, np.array(labels))


def features(paths: list[Path]) -> np.ndarray:
    from desktop.io.images import content_hash
    from desktop.ml.backbones import (
        DEFAULT_BACKBONE,
        build_feature_extractor,
        get_backbone,
        require_weights,
        weights_identity,
    )
    from desktop.ml.features import ORIGINAL, extract_features, open_feature_cache

    spec = get_backbone(DEFAULT_BACKBONE)
    weights = require_weights(spec.name)
    cache = open_feature_cache(OUT_DIR / "feature-cache", spec, weights_identity(weights))
    hashes = [content_hash(path.read_bytes()) for path in paths]
    extractor = build_feature_extractor(spec, weights)[0]
    result = extract_features(extractor, spec, paths, hashes, cache=cache)
    if not result.ok.all():
        raise RuntimeError(f"unreadable images: {result.errors}")
    return result.features[:, ORIGINAL]


def wilson_thresholds(probs: np.ndarray, labels: np.ndarray, precision: float, z: float = 2.0) -> list:
    """The rule this replaced (calibration.thresholds_for_precision before issue #21), for comparison."""
    predicted, confidence = probs.argmax(1), probs.max(1)
    out = []
    for c in range(probs.shape[1]):
        rows = np.flatnonzero(predicted == c)
        order = rows[np.argsort(-confidence[rows], kind="stable")]
        conf = confidence[order]
        n = np.arange(1, order.size + 1)
        p = np.cumsum(labels[order] == c) / n
        bound = (p + z * z / (2 * n) - z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
        holds = bound >= precision
        if not holds.any():
            out.append(None)
            continue
        first = int(np.argmax(holds))
        fails = np.flatnonzero(~holds[first:])
        end = first + (int(fails[0]) if fails.size else holds.size - first)
        cut = np.append(conf[1:] < conf[:-1], True)
        ok = np.flatnonzero(cut[first:end])
        out.append(float(conf[first + ok.max()]) if ok.size else None)
    return out


def outcome(thresholds: list, predicted: np.ndarray, confidence: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    limit = np.array([np.inf if t is None else t for t in thresholds])[predicted]
    sorted_ = confidence >= limit
    return int(sorted_.sum()), int((sorted_ & (predicted == truth)).sum())


def oracle(predicted: np.ndarray, confidence: np.ndarray, truth: np.ndarray, target: float) -> tuple[int, int]:
    order = np.argsort(-confidence, kind="stable")
    right = np.cumsum(predicted[order] == truth[order])
    n = np.arange(1, len(order) + 1)
    ok = np.flatnonzero(right / n >= target)
    return (0, 0) if not ok.size else (int(ok.max() + 1), int(right[ok.max()]))


def run(data: DataSet, x: np.ndarray, labelled: int, new: int, rotations: int, totals: dict) -> None:
    from desktop.ml.calibration import calibrate, softmax
    from desktop.ml.crossval import cross_validate, fit_logistic
    from desktop.ml.precision import class_rules, expected_mistakes

    classes = int(data.labels.max()) + 1
    for rotation in range(rotations):
        rng = np.random.default_rng(100 + rotation)
        train, test = [], []
        for c in range(classes):
            members = rng.permutation(np.flatnonzero(data.labels == c))
            train += list(members[:labelled])
            test += list(members[labelled:labelled + new])
        train, test = np.array(sorted(train)), np.array(sorted(test))
        y = data.labels[train]
        cv = cross_validate(x[train], y, classes)
        fit = calibrate(cv.oof_logits, y)
        head = fit_logistic(x[train], y, classes, cv.l2)
        probs = softmax(head.logits(x[test]), fit.temperature)
        predicted, confidence, truth = probs.argmax(1), probs.max(1), data.labels[test]
        for target in TARGETS:
            rules = class_rules(_held_out(fit.probabilities, y), target)
            ours = outcome([r.threshold for r in rules], predicted, confidence, truth)
            limit = np.array([np.inf if r.threshold is None else r.threshold for r in rules])[predicted]
            chosen = [(int(c), float(p)) for c, p in zip(predicted[confidence >= limit],
                                                         confidence[confidence >= limit], strict=True)]
            estimate = expected_mistakes(rules, chosen)
            old = outcome(wilson_thresholds(fit.probabilities, y, target), predicted, confidence, truth)
            best = oracle(predicted, confidence, truth, target)
            row = totals.setdefault((data.name, target), {"n": 0, "rule": [0, 0], "wilson": [0, 0], "oracle": [0, 0],
                                                          "expected": [0.0, 0], "kept": 0, "in_range": [0, 0]})
            row["n"] += len(test)
            for key, value in (("rule", ours), ("wilson", old), ("oracle", best)):
                row[key][0] += value[0]
                row[key][1] += value[1]
            row["expected"][0] += estimate.expected
            row["expected"][1] += estimate.sorted_by_prediction
            row["kept"] += fit.kept
            mistakes = ours[0] - ours[1]
            row["in_range"][0] += estimate.low <= mistakes <= estimate.high
            row["in_range"][1] += 1


def _held_out(probabilities: np.ndarray, labels: np.ndarray):
    from desktop.ml.precision import HeldOut

    return HeldOut.from_probabilities(probabilities, labels)


def _cell(row: dict, key: str) -> str:
    sorted_, right = row[key]
    precision = f"{right / sorted_:.3f}" if sorted_ else "  -  "
    return f"{sorted_ / row['n']:6.1%} / {precision}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labelled", type=int, default=20)
    parser.add_argument("--new", type=int, default=40)
    parser.add_argument("--rotations", type=int, default=3)
    args = parser.parse_args()
    per_class = args.labelled + args.new
    sets = [fashion(per_class), photo_crops(per_class)]
    if STAMPS.is_dir():
        sets.insert(0, clip_art(per_class))
    else:
        print("clip art skipped: apt-get install tuxpaint-stamps-default", file=sys.stderr)
    totals: dict = {}
    for data in sets:
        print(f"{data.name}: {len(data.paths)} images", file=sys.stderr)
        run(data, features(data.paths), args.labelled, args.new, args.rotations, totals)
    print(f"{args.labelled} labelled and {args.new} new photos per class, {args.rotations} rotations; coverage / "
          "realized precision of the new photos")
    print(f"{'set':<28} {'target':>6}  {'rule (app)':>15}  {'expected':>8}  {'in range':>8}  {'wilson (old)':>15}  "
          f"{'oracle':>15}")
    for (name, target), row in totals.items():
        mistakes, by_prediction = row["expected"]
        expected = f"{1 - mistakes / by_prediction:.3f}" if by_prediction else "-"
        rule, wilson, best = (_cell(row, key) for key in ("rule", "wilson", "oracle"))
        in_range = f"{row['in_range'][0]} of {row['in_range'][1]}"
        print(f"{name:<28} {target:>6.0%}  {rule:>15}  {expected:>8}  {in_range:>8}  {wilson:>15}  {best:>15}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
