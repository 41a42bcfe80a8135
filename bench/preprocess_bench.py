"""Evaluation preprocessing: numpy and Pillow (``desktop.ml.preprocess``, both builds since
EVAL_PREPROCESSING_VERSION 2) against torchvision's transforms (what version 1 ran), alone and in the feature pass.

    nice python -m bench.preprocess_bench [--count 200] [--size 1600x1200] [--backbone efficientnet_lite0]

  (a) preprocessing alone: photos already decoded (at the size the app decodes them), to the normalised crop and
      its mirror image, on one thread: images/s
  (b) the feature pass: ``extract_features`` over the JPEG files with no cache, as the CPU build runs it (no torch
      module: decoding and preprocessing on every core, then ONNX Runtime from the shipped file, exported here
      first), once with numpy preprocessing and once with torchvision's transforms put in its place: photos/s,
      best of ``--repeat``, the two alternating
  (c) the largest difference between the two passes' features

The photos: scikit-image's sample photographs, scaled and cropped to ``--size``, saved as JPEG (quality 90).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")


def write_photos(folder: Path, count: int, width: int, height: int) -> list[Path]:
    from skimage import data

    bases = [getattr(data, name)() for name in PHOTOS]
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        base = bases[index % len(bases)]
        scale = max(width / base.shape[1], height / base.shape[0]) * rng.uniform(1.0, 1.3)
        big = cv2.resize(base, (round(base.shape[1] * scale) + 1, round(base.shape[0] * scale) + 1),
                         interpolation=cv2.INTER_CUBIC)
        top, left = rng.integers(0, big.shape[0] - height + 1), rng.integers(0, big.shape[1] - width + 1)
        photo = big[top:top + height, left:left + width]
        if index % 3 == 1:
            photo = np.ascontiguousarray(photo.transpose(1, 0, 2))  # portrait too
        paths.append(folder / f"photo-{index:04d}.jpg")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return paths


class TorchvisionViews:
    """Version 1's views: torchvision's Resize(antialias) → CenterCrop → ToDtype → Normalize, and the mirror."""

    def __init__(self, spec, views) -> None:
        import torch
        from torchvision.transforms import v2

        self.views = tuple(views)
        self.transform = v2.Compose([
            v2.ToImage(), v2.Resize(spec.resize_size, interpolation=v2.InterpolationMode(spec.interpolation),
                                    antialias=True),
            v2.CenterCrop(spec.input_size), v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(spec.mean), std=list(spec.std))])

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import torch

        image = self.transform(rgb)
        return torch.stack([image.flip(-1) if view == 1 else image for view in self.views]).numpy()


def preprocessing_rate(make, decoded: list[np.ndarray]) -> float:
    views = make((0, 1))
    views(decoded[0])  # warm-up
    started = time.perf_counter()
    for rgb in decoded:
        views(rgb)
    return len(decoded) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", default="1600x1200")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    width, height = (int(side) for side in args.size.split("x"))

    import os

    import torch

    from desktop.io.images import load_rgb
    from desktop.ml import features
    from desktop.ml.backbones import get_backbone, pretrained_identity
    from desktop.ml.preprocess import decode_size
    from desktop.ml.shipped import FOLDER_VARIABLE
    from desktop.ml.shipped.__main__ import export_shipped

    spec = get_backbone(args.backbone)
    print(f"{args.count} photos {width}x{height}, {spec.name}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        paths = write_photos(work_dir, args.count, width, height)
        decoded = [load_rgb(path, min_short_side=decode_size(spec)) for path in paths]
        print(f"decoded at {decoded[0].shape[1]}x{decoded[0].shape[0]} (shorter side ≥ {decode_size(spec)})")
        torch.set_num_threads(1)
        numpy_rate = preprocessing_rate(lambda views: features._Views(spec, views), decoded)
        torchvision_rate = preprocessing_rate(lambda views: TorchvisionViews(spec, views), decoded)
        torch.set_num_threads(os.cpu_count() or 1)
        print(f"(a) preprocessing, 2 views, one thread: numpy/Pillow {numpy_rate:.0f} images/s, "
              f"torchvision {torchvision_rate:.0f} images/s ({numpy_rate / torchvision_rate:.2f}x)")

        os.environ[FOLDER_VARIABLE] = str(work_dir / "shipped")
        export_shipped(work_dir / "shipped", [spec.name])
        identity = pretrained_identity(spec.name)
        numpy_views = features._Views

        def feature_pass(views_class) -> tuple[float, np.ndarray]:
            features._Views = views_class
            try:
                started = time.perf_counter()
                result = features.extract_features(None, spec, paths, None, weights_identity=identity)
                return len(paths) / (time.perf_counter() - started), result.features
            finally:
                features._Views = numpy_views

        feature_pass(numpy_views)  # warm-up: the session, the page cache
        best = {"numpy/Pillow": 0.0, "torchvision": 0.0}
        outputs = {}
        for _ in range(args.repeat):
            for name, views_class in (("numpy/Pillow", numpy_views), ("torchvision", TorchvisionViews)):
                rate, outputs[name] = feature_pass(views_class)
                best[name] = max(best[name], rate)
        print(f"(b) features (ONNX Runtime, no cache), best of {args.repeat}: numpy/Pillow "
              f"{best['numpy/Pillow']:.1f} photos/s, torchvision {best['torchvision']:.1f} photos/s "
              f"({best['numpy/Pillow'] / best['torchvision']:.2f}x)")
        gap = float(np.abs(outputs["numpy/Pillow"] - outputs["torchvision"]).max())
        print(f"(c) largest feature difference between the two: {gap:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
