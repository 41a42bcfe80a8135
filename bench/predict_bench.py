"""Prediction speed on big photos: a naive loop, Pigeonhole's predictor, and the floor, in one run.

    python -m bench.predict_bench [--count 200] [--megapixels 12] [--batch 32] [--repeat 1]

The photos are import_bench's photo-like 12-megapixel JPEGs (generated once under bench/out/). The model is
a real checkpoint: the default backbone (EfficientNet-Lite0, ImageNet weights) with a linear head trained in
frozen mode on a few pictures the app draws itself (what the head learned does not change the speed).

  (a) naive       Pillow open + convert, torchvision Resize/CenterCrop/ToTensor/Normalize, the model on one
                  image at a time (what a first script does)
  (b) pigeonhole  Predictor.predict_paths: reduced-size JPEG decoding and the eval transform, each batch on a
                  thread pool over all cores, then the batched forward pass on all cores (on a GPU, DataLoader
                  workers overlap the two instead); no feature cache (every photo goes through the network)
  (c) floor       reduced-size decoding of the same files on all cores (threads; OpenCV releases the GIL),
                  plus the batched forward pass (in the app's layout) on tensors already in memory: the two
                  costs nobody can skip, added up as if nothing overlapped

Prints photos/s for each, (b)/(a) (aim >= 2.5) and (c)'s rate over (b)'s (aim <= 1.25).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from bench.import_bench import OUT_DIR, generate, warm


def make_checkpoint(work: Path) -> Path:
    """A real frozen-mode model file, trained in a few seconds on pictures the app draws itself."""
    from desktop.core.self_test import CLASSES, write_pictures
    from desktop.ml.checkpoint import save_checkpoint
    from desktop.ml.trainer import TrainConfig, TrainItem, train

    pictures = write_pictures(work / "pictures", per_class=6)
    items = []
    for label, name in enumerate(CLASSES):
        for index, path in enumerate(sorted((pictures / name).iterdir())):
            items.append(TrainItem(path, f"{name}-{index}", label, "val" if index < 2 else "train"))
    result = train(TrainConfig(mode="frozen", epochs=5, num_workers=0), items, CLASSES, None)
    path = work / "model.pt"
    save_checkpoint(path, result.checkpoint)
    return path


def time_naive(model_file: Path, paths: list[Path]) -> float:
    import torch
    from PIL import Image
    from torchvision import transforms

    from desktop.ml.predict import Predictor

    predictor = Predictor.from_checkpoint(model_file)
    spec = predictor.spec
    preprocess = transforms.Compose([
        transforms.Resize(spec.resize_size, interpolation=transforms.InterpolationMode(spec.interpolation)),
        transforms.CenterCrop(spec.input_size),
        transforms.ToTensor(),
        transforms.Normalize(spec.mean, spec.std),
    ])
    model = predictor.model.eval()
    started = time.perf_counter()
    with torch.inference_mode():
        for path in paths:
            with Image.open(path) as image:
                tensor = preprocess(image.convert("RGB"))
            model(tensor.unsqueeze(0)).softmax(1)
    return time.perf_counter() - started


def time_pigeonhole(model_file: Path, paths: list[Path], batch: int) -> float:
    from desktop.ml.predict import Predictor

    predictor = Predictor.from_checkpoint(model_file)
    started = time.perf_counter()
    probabilities = predictor.predict_paths(paths, batch_size=batch)  # no content hashes: no feature cache
    seconds = time.perf_counter() - started
    assert not np.isnan(probabilities).any(), "every photo must be predicted"
    return seconds


def time_floor(model_file: Path, paths: list[Path], batch: int) -> tuple[float, float]:
    """(decode seconds, forward seconds)."""
    import torch

    import desktop.io.images  # noqa: F401  (one OpenCV thread per decode, as the app sets it)
    from desktop.ml.device import use_channels_last_for_inference
    from desktop.ml.predict import Predictor
    from desktop.ml.transforms import eval_transform

    predictor = Predictor.from_checkpoint(model_file)
    spec = predictor.spec
    with open(paths[0], "rb") as handle:
        first = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_REDUCED_COLOR_8)
    flag = cv2.IMREAD_REDUCED_COLOR_8 if min(first.shape[:2]) >= spec.resize_size else cv2.IMREAD_REDUCED_COLOR_4

    def decode(path: Path) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), flag)

    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        decoded = list(pool.map(decode, paths))
    decode_seconds = time.perf_counter() - started

    transform = eval_transform(spec)
    tensors = torch.stack([transform(np.ascontiguousarray(image[..., ::-1])) for image in decoded])
    model = predictor.model.eval()  # in the layout the app computes in (channels-last on a CPU)
    layout = torch.channels_last if use_channels_last_for_inference(predictor.device) else torch.contiguous_format
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(tensors), batch):
            model(tensors[start:start + batch].contiguous(memory_format=layout)).softmax(1)
    return decode_seconds, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="number of photos (default 200)")
    parser.add_argument("--megapixels", type=float, default=12.0, help="size of each photo (default 12)")
    parser.add_argument("--batch", type=int, default=32, help="batch size of (b) and (c) (default 32)")
    parser.add_argument("--repeat", type=int, default=1, help="time each measurement N times, keep the best")
    args = parser.parse_args(argv)

    paths = generate(OUT_DIR / f"import-photos-{args.count}x{args.megapixels:g}mp", args.count, args.megapixels)
    warm(paths)
    work = Path(tempfile.mkdtemp(prefix="predict-bench-"))
    try:
        model_file = make_checkpoint(work)
        best: dict[str, float] = {}
        for _ in range(max(1, args.repeat)):
            decode, forward = time_floor(model_file, paths, args.batch)
            runs = {"naive": time_naive(model_file, paths),
                    "pigeonhole": time_pigeonhole(model_file, paths, args.batch),
                    "floor": decode + forward, "decode": decode, "forward": forward}
            best = {key: min(best.get(key, float("inf")), value) for key, value in runs.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    count = len(paths)
    print(f"{count} photos of {args.megapixels:g} MP, batch {args.batch}, {os.cpu_count()} CPUs")
    for key, label in (("naive", "(a) naive loop, Pillow, one at a time"),
                       ("pigeonhole", "(b) Pigeonhole predictor"),
                       ("floor", "(c) floor: reduced decode + batched forward")):
        print(f"{label:<46} {best[key]:7.2f} s   {count / best[key]:6.1f} photos/s")
    print(f"    of which decoding {best['decode']:.2f} s, forward pass {best['forward']:.2f} s")
    print(f"(b) vs (a): {best['naive'] / best['pigeonhole']:.2f}x faster  (aim >= 2.5)")
    print(f"(b) vs (c): {best['pigeonhole'] / best['floor']:.2f}x the floor's time  (aim <= 1.25)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
