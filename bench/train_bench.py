"""Training speed and quality: the classic frozen-backbone loop against Pigeonhole's cached-feature trainer.

    python -m bench.train_bench [--train-per-class 30] [--val-per-class 20] [--epochs 10] [--workers N]
    python -m bench.train_bench --quality [--quality-per-class 100] [--finetune-epochs 8]

Speed (default): the same labelled Fashion-MNIST images (Debian's dataset-fashion-mnist, upscaled to 96 px
PNGs in class folders under bench/out/; generated shapes when the package is missing), the default backbone
(EfficientNet-Lite0, ImageNet weights) frozen, a linear head, ``--epochs`` epochs, timed two ways:

  (a) classic    torchvision ImageFolder + DataLoader + the standard train/eval presets; every epoch runs
                 the full backbone forward over every training and validation image (only the head learns)
  (b) pigeonhole desktop.ml.trainer.train(mode="frozen") with an empty feature cache: each image goes
                 through the backbone once, then the head trains on cached features

and prints both times, both validation accuracies, and the ratio (a)/(b) (aim: >= 8 at equal accuracy,
within 2 points). A warm re-run of (b) (every feature cached) is printed too.

Quality (``--quality``): ``--quality-per-class`` images per class, 20 % for validation (assign_splits),
validation accuracy of the frozen and the fine-tune modes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import fashion_mnist

OUT_DIR = Path(__file__).resolve().parent / "out"
IMAGE_SIZE = 96


# --- data -----------------------------------------------------------------------------------------------------

def _write_shapes(root: Path, per_class: int, offset: int) -> None:
    """Stand-in when Fashion-MNIST is not installed: the drawings the ML tests use."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ml"))
    from conftest import CLASS_NAMES, draw, write_image

    rng = np.random.default_rng(offset)
    for kind in CLASS_NAMES:
        for index in range(per_class):
            write_image(root / kind / f"{kind}_{offset + index:05d}.png", draw(kind, rng, IMAGE_SIZE))


def image_folders(train_per_class: int, val_per_class: int) -> tuple[Path, Path, str]:
    """class_name/image.png trees for training and validation (cached under bench/out/)."""
    source = "fashion-mnist" if fashion_mnist.available() else "shapes"
    base = OUT_DIR / f"train-{source}-{train_per_class}+{val_per_class}"
    train_root, val_root = base / "train", base / "val"
    if not (base / "complete").is_file():
        shutil.rmtree(base, ignore_errors=True)
        if source == "fashion-mnist":
            fashion_mnist.write_folder(train_root, train_per_class, size=IMAGE_SIZE)
            fashion_mnist.write_folder(val_root, val_per_class, size=IMAGE_SIZE, offset=train_per_class)
        else:
            _write_shapes(train_root, train_per_class, 0)
            _write_shapes(val_root, val_per_class, 100_000)
        (base / "complete").write_text("")
    return train_root, val_root, source


def train_items(train_root: Path, val_root: Path):
    """TrainItems over both trees (label = index of the sorted class folder, like ImageFolder)."""
    from desktop.io.images import content_hash
    from desktop.ml.train_record import TrainItem

    class_names = sorted(p.name for p in train_root.iterdir() if p.is_dir())
    items = []
    for root, split in ((train_root, "train"), (val_root, "val")):
        for label, name in enumerate(class_names):
            for path in sorted((root / name).iterdir()):
                items.append(TrainItem(path, content_hash(path.read_bytes()), label, split))
    return items, class_names


# --- (a) the classic loop -------------------------------------------------------------------------------------

def classic(train_root: Path, val_root: Path, epochs: int, batch_size: int, workers: int, lr: float,
            seed: int = 0) -> tuple[float, float]:
    """Frozen backbone, trainable linear head, full forward pass of every image every epoch."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    from desktop.ml.backbones import DEFAULT_BACKBONE, build_feature_extractor, get_backbone, require_weights
    from desktop.ml.transforms import eval_transform, train_transform

    started = time.perf_counter()
    torch.manual_seed(seed)
    spec = get_backbone(DEFAULT_BACKBONE)
    backbone, in_features = build_feature_extractor(spec, require_weights(spec.name))
    backbone.eval().requires_grad_(False)
    head = nn.Linear(in_features, len(list(train_root.iterdir())))
    train_set = ImageFolder(str(train_root), transform=train_transform(spec))
    val_set = ImageFolder(str(val_root), transform=eval_transform(spec))
    train_loader = DataLoader(train_set, batch_size, shuffle=True, num_workers=workers)
    val_loader = DataLoader(val_set, batch_size, num_workers=workers)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * len(train_loader))
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    accuracy = 0.0
    for epoch in range(epochs):
        head.train()
        for images, targets in train_loader:
            with torch.no_grad():
                features = backbone(images)
            loss = criterion(head(features), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        head.eval()
        correct = total = 0
        with torch.inference_mode():
            for images, targets in val_loader:
                correct += int((head(backbone(images)).argmax(1) == targets).sum())
                total += len(targets)
        accuracy = correct / total
        print(f"  classic epoch {epoch + 1}/{epochs}: val accuracy {accuracy:.3f} "
              f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return time.perf_counter() - started, accuracy


# --- (b) Pigeonhole -------------------------------------------------------------------------------------------

def pigeonhole(items, class_names, cache_dir: Path, **config):
    from desktop.ml.options import TrainingOptions
    from desktop.ml.trainer import train

    started = time.perf_counter()
    result = train(TrainingOptions(**config), items, class_names, cache_dir)
    return time.perf_counter() - started, result


def speed(args: argparse.Namespace) -> None:
    train_root, val_root, source = image_folders(args.train_per_class, args.val_per_class)
    items, class_names = train_items(train_root, val_root)
    n_train = sum(i.split == "train" for i in items)
    print(f"{source}: {len(class_names)} classes, {n_train} training + {len(items) - n_train} validation images "
          f"({IMAGE_SIZE} px), {args.epochs} epochs, batch {args.batch_size}, {args.workers} workers")
    with tempfile.TemporaryDirectory(prefix="pigeonhole-bench-") as work:
        cache = Path(work) / "features"
        ours_cold, result = pigeonhole(items, class_names, cache, mode="frozen", epochs=args.epochs,
                                       batch_size=args.batch_size, num_workers=args.workers, patience=0,
                                       learning_rate=args.lr, mirror_features=False)
        ours_warm, warm_result = pigeonhole(items, class_names, cache, mode="frozen", epochs=args.epochs,
                                            batch_size=args.batch_size, num_workers=args.workers, patience=0,
                                            learning_rate=args.lr, mirror_features=False)
    classic_seconds, classic_accuracy = classic(train_root, val_root, args.epochs, args.batch_size, args.workers,
                                                args.lr)
    ours_accuracy = result.metrics.accuracy
    print(f"(a) classic loop       {classic_seconds:8.1f} s   val accuracy {classic_accuracy:.3f}")
    print(f"(b) pigeonhole (cold)  {ours_cold:8.1f} s   val accuracy {ours_accuracy:.3f}   "
          f"({result.features_computed} features computed)")
    print(f"    pigeonhole (warm)  {ours_warm:8.1f} s   val accuracy {warm_result.metrics.accuracy:.3f}   "
          f"({warm_result.features_computed} computed, {warm_result.features_reused} reused)")
    print(f"ratio (a)/(b) cold: {classic_seconds / ours_cold:.1f}x   warm: {classic_seconds / ours_warm:.0f}x   "
          f"accuracy difference: {100 * (ours_accuracy - classic_accuracy):+.1f} points")


def quality(args: argparse.Namespace) -> None:
    from desktop.ml.splits import assign_splits
    from desktop.ml.train_record import TrainItem

    source = "fashion-mnist" if fashion_mnist.available() else "shapes"
    root = OUT_DIR / f"quality-{source}-{args.quality_per_class}"
    if not (root / "complete").is_file():
        shutil.rmtree(root, ignore_errors=True)
        if source == "fashion-mnist":
            fashion_mnist.write_folder(root, args.quality_per_class, size=IMAGE_SIZE, offset=1000)
        else:
            _write_shapes(root, args.quality_per_class, 200_000)
        (root / "complete").write_text("")
    items, class_names = train_items(root, root)
    items = [i for i in items if i.split == "train"]  # each file once; the real split comes next
    split = assign_splits({i.path: i.label for i in items}, {}, val_fraction=0.2, seed=args.seed)
    items = [TrainItem(i.path, i.content_hash, i.label, split[i.path]) for i in items]
    n_val = sum(i.split == "val" for i in items)
    print(f"{source}: {len(class_names)} classes × {args.quality_per_class} images, {len(items) - n_val} training "
          f"+ {n_val} validation")
    cache = OUT_DIR / "feature-cache"
    runs = {"frozen": {"mode": "frozen"}, "frozen+mirror": {"mode": "frozen", "mirror_features": True},
            "finetune": {"mode": "finetune", "epochs": args.finetune_epochs}}
    for name in args.runs.split(","):
        config = runs[name]
        seconds, result = pigeonhole(items, class_names, cache, num_workers=args.workers, seed=args.seed, **config)
        print(f"{name:14s} val accuracy {result.metrics.accuracy:.3f}  macro-F1 {result.metrics.macro_f1:.3f}  "
              f"top-{result.metrics.top_k} {result.metrics.top_k_accuracy:.3f}  kept: {result.mode} "
              f"(best {result.best_stage} epoch {result.best_epoch})  {seconds:.0f} s "
              f"({result.features_computed} features computed)")
        for record in result.history:
            if record.stage == "finetune":
                print(f"    finetune epoch {record.epoch}: train loss {record.train_loss:.3f} "
                      f"val loss {record.val_loss:.3f} val accuracy {record.val_accuracy:.3f} ({record.seconds:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-per-class", type=int, default=30)
    parser.add_argument("--val-per-class", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers for both (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality", action="store_true", help="run the quality comparison instead")
    parser.add_argument("--quality-per-class", type=int, default=100)
    parser.add_argument("--finetune-epochs", type=int, default=8)
    parser.add_argument("--runs", default="frozen,frozen+mirror,finetune", help="quality runs, comma-separated")
    args = parser.parse_args(argv)
    quality(args) if args.quality else speed(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
