"""Model quality of one-click frozen training: held-out accuracy, out-of-fold accuracy, calibration error and
label-error precision@k, per feature set, on real image sets.

    python -m bench.quality_bench [--sets fashion,clipart] [--feature-sets efficientnet_lite0,efficientnet_lite0_lite1]
                                  [--train-per-class 30] [--flip-seeds 3]

Data: Debian's dataset-fashion-mnist (10 classes, upscaled to 96 px PNGs) and tuxpaint-stamps-default clip art
(the 6 stamp categories animals, food, household, plants, symbols, vehicles; PNGs with alpha), each split into a
training part of ``--train-per-class`` photos per class (fewer where a class has fewer: half of it) and a
held-out part (the rest, up to 100 per class). Sets whose package is missing are skipped.

For each set and feature set, with the app's own code:

* ``desktop.ml.trainer.train(mode="frozen")`` on the training part (every photo; k-fold cross-validation
  chooses the L2 strength; temperature scaling on the out-of-fold logits): its out-of-fold accuracy and
  calibration error (ECE, 10 bins), then the saved model (``Predictor``) on the held-out part: held-out accuracy
  and held-out ECE;
* the label-error finder (``desktop.ml.label_issues``): 10 % of the training labels flipped at random, precision
  of the top k suspects (k = number flipped), mean over ``--flip-seeds`` seeds.

Features are cached under bench/out/quality-cache (the first run computes them; later runs take seconds).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from bench import fashion_mnist

OUT_DIR = Path(__file__).resolve().parent / "out"
TUXPAINT = Path("/usr/share/tuxpaint/stamps")
CLIPART_CLASSES = ("animals", "food", "household", "plants", "symbols", "vehicles")
HELD_OUT_PER_CLASS = 100


def fashion_set(train_per_class: int) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]], list[str]] | None:
    if not fashion_mnist.available():
        return None
    root = OUT_DIR / "quality-fashion"
    train = fashion_mnist.write_folder(root / "train", train_per_class)
    held_out = fashion_mnist.write_folder(root / "held-out", HELD_OUT_PER_CLASS, offset=train_per_class)
    names = sorted({name for _, name in train})
    return ([(p, names.index(n)) for p, n in train], [(p, names.index(n)) for p, n in held_out], names)


def clipart_set(train_per_class: int):
    if not TUXPAINT.is_dir():
        return None
    rng = np.random.default_rng(0)
    train, held_out = [], []
    for label, name in enumerate(CLIPART_CLASSES):
        files = sorted(p for p in (TUXPAINT / name).rglob("*.png"))
        files = [files[i] for i in rng.permutation(len(files))]
        take = min(train_per_class, len(files) // 2)
        train += [(p, label) for p in files[:take]]
        held_out += [(p, label) for p in files[take:take + HELD_OUT_PER_CLASS]]
    return train, held_out, list(CLIPART_CLASSES)


def file_hash(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=32).hexdigest()


def measure(name: str, data, feature_set: str, flip_seeds: int) -> dict:
    from desktop.ml.calibration import expected_calibration_error
    from desktop.ml.features import ORIGINAL
    from desktop.ml.label_issues import out_of_fold_probabilities, rank_suspects
    from desktop.ml.options import TrainingOptions
    from desktop.ml.predict import Predictor
    from desktop.ml.train_record import TrainItem
    from desktop.ml.trainer import train

    train_part, held_out, class_names = data
    cache = OUT_DIR / "quality-cache"
    # Frozen training does not use the split; the trainer's data check still wants one validation photo a class.
    first = {label: index for index, (_, label) in reversed(list(enumerate(train_part)))}
    items = [TrainItem(p, file_hash(p), label, "val" if first[label] == index else "train")
             for index, (p, label) in enumerate(train_part)]
    result = train(TrainingOptions(backbone=feature_set, mode="frozen", device="cpu"), items, class_names, cache)
    predictor = Predictor.from_checkpoint(result.checkpoint, device="cpu")
    probabilities = predictor.predict_paths([p for p, _ in held_out], content_hashes=[file_hash(p) for p, _ in
                                                                                      held_out], cache_dir=cache)
    targets = np.array([label for _, label in held_out])
    readable = ~np.isnan(probabilities).any(1)
    held_out_accuracy = float((probabilities[readable].argmax(1) == targets[readable]).mean())
    held_out_ece = expected_calibration_error(probabilities[readable], targets[readable])

    # Label errors: the same features (all cached now), 10 % of the labels flipped.
    from desktop.ml.features import FeatureCache

    features_cache = FeatureCache(cache, result.checkpoint["feature_key"])
    kept = list(result.val_items)  # every readable training photo
    features = np.stack([features_cache.get(item.content_hash, ORIGINAL) for item in kept])
    clean = np.array([item.label for item in kept])
    precisions = []
    for seed in range(flip_seeds):
        rng = np.random.default_rng(seed)
        labels = clean.copy()
        flipped = rng.choice(len(labels), size=len(labels) // 10, replace=False)
        for index in flipped:
            labels[index] = rng.choice([c for c in range(len(class_names)) if c != clean[index]])
        oof = out_of_fold_probabilities(features, labels, len(class_names), seed=seed)
        top = {s.index for s in rank_suspects(oof, labels)[:len(flipped)]}
        precisions.append(len(top & set(flipped.tolist())) / len(flipped))
    return {"set": name, "feature_set": feature_set, "classes": len(class_names), "train": result.train_count,
            "held_out": int(readable.sum()), "held_out_accuracy": held_out_accuracy,
            "oof_accuracy": result.metrics.accuracy, "oof_ece": result.ece, "held_out_ece": held_out_ece,
            "temperature": result.temperature, "label_precision_at_k": float(np.mean(precisions)),
            "seconds": result.duration_seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="fashion,clipart")
    parser.add_argument("--feature-sets", default=None, help="default: every built-in one whose weights are here")
    parser.add_argument("--train-per-class", type=int, default=30)
    parser.add_argument("--flip-seeds", type=int, default=3)
    args = parser.parse_args(argv)
    from desktop.ml.backbones import available_backbones, weights_status

    if args.feature_sets:
        feature_sets = args.feature_sets.split(",")
    else:
        feature_sets = [spec.name for spec in available_backbones() if weights_status(spec.name).source == "bundled"]
    makers = {"fashion": fashion_set, "clipart": clipart_set}
    rows = []
    for set_name in args.sets.split(","):
        data = makers[set_name](args.train_per_class)
        if data is None:
            print(f"{set_name}: skipped (its Debian package is not installed)")
            continue
        for feature_set in feature_sets:
            rows.append(measure(set_name, data, feature_set, args.flip_seeds))
            r = rows[-1]
            print(f"{r['set']:8} {r['feature_set']:26} classes {r['classes']:2}  train {r['train']:4}  held-out "
                  f"{r['held_out']:4}  held-out acc {r['held_out_accuracy']:.3f}  OOF acc {r['oof_accuracy']:.3f}  "
                  f"ECE OOF {r['oof_ece']:.3f} held-out {r['held_out_ece']:.3f}  T {r['temperature']:.2f}  "
                  f"label P@k {r['label_precision_at_k']:.2f}  {r['seconds']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
