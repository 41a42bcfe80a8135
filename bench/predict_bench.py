"""Prediction speed: a naive loop, Pigeonhole's predictor with torch (before ONNX Runtime) and with ONNX Runtime,
and the floor, in one run; then the cold feature pass of frozen training, torch against ONNX Runtime.

    nice python -m bench.predict_bench [--count 200] [--megapixels 12] [--pngs 300] [--batch 32] [--repeat 1]

Two sets of files: import_bench's photo-like 12-megapixel JPEGs (generated once under bench/out/), and ``--pngs``
PNGs: Debian's tuxpaint-stamps-default clip art when installed (/usr/share/tuxpaint/stamps), else Fashion-MNIST
upscaled to 96 px. The model is a real checkpoint: the default backbone (EfficientNet-Lite0, ImageNet weights)
with a linear head trained in frozen mode on a few pictures the app draws itself (what the head learned does
not change the speed).

  (a) naive       Pillow open + convert, torchvision Resize/CenterCrop/ToTensor/Normalize, the model on one
                  image at a time in torch (what a first script does)
  (b) torch       Predictor.predict_paths with ONNX Runtime switched off (PIGEONHOLE_NO_ONNX): the app before
                  it, reduced-size decoding on a thread pool, then torch's batched channels-last forward pass
  (c) pigeonhole  Predictor.predict_paths: the same decoding, the forward pass in ONNX Runtime (the export is
                  cached before timing); no feature cache (every photo goes through the network)
  (d) floor       reduced-size decoding of the same files on all cores (threads; OpenCV releases the GIL),
                  plus ONNX Runtime's forward pass on crops already in memory: the two costs nobody can skip,
                  added up as if nothing overlapped (JPEGs only; PNGs have no reduced decoding)
  cold pass       extract_features over the PNGs with an empty cache, as frozen training's first run does:
                  torch (b's engine) against ONNX Runtime (c's)

Prints photos/s for each and the ratios: (c)/(a), (c)/(b) (aim >= 2 on PNGs), (c) against (d) (aim <= 1.25),
cold pass torch/ONNX (aim >= 3).
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
    from desktop.ml.options import TrainingOptions
    from desktop.ml.train_record import TrainItem
    from desktop.ml.trainer import train

    pictures = write_pictures(work / "pictures", per_class=6)
    items = []
    for label, name in enumerate(CLASSES):
        for index, path in enumerate(sorted((pictures / name).iterdir())):
            items.append(TrainItem(path, f"{name}-{index}", label, "val" if index < 2 else "train"))
    result = train(TrainingOptions(mode="frozen", epochs=5, num_workers=0), items, CLASSES, None)
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


def time_pigeonhole(model_file: Path, paths: list[Path], batch: int, *, onnx: bool = True) -> float:
    from desktop.ml.onnx_engine import DISABLE_VARIABLE
    from desktop.ml.predict import Predictor

    predictor = Predictor.from_checkpoint(model_file)
    with _engine(onnx):
        predictor.predict_paths(paths[:2], batch_size=batch)  # ONNX: exported (once) and loaded before timing
        started = time.perf_counter()
        probabilities = predictor.predict_paths(paths, batch_size=batch)  # no content hashes: no feature cache
        seconds = time.perf_counter() - started
    assert DISABLE_VARIABLE not in os.environ
    assert not np.isnan(probabilities).any(), "every photo must be predicted"
    return seconds


class _engine:
    """torch (``onnx=False``: ONNX Runtime switched off through its environment variable) or ONNX Runtime."""

    def __init__(self, onnx: bool) -> None:
        self.onnx = onnx

    def __enter__(self) -> None:
        from desktop.ml.onnx_engine import DISABLE_VARIABLE

        if not self.onnx:
            os.environ[DISABLE_VARIABLE] = "1"

    def __exit__(self, *_exc) -> None:
        from desktop.ml.onnx_engine import DISABLE_VARIABLE

        os.environ.pop(DISABLE_VARIABLE, None)


def time_floor(model_file: Path, paths: list[Path], batch: int) -> tuple[float, float]:
    """(decode seconds, ONNX Runtime forward seconds), batches as the app runs them."""
    import torch

    import desktop.io.images  # noqa: F401  (one OpenCV thread per decode, as the app sets it)
    from desktop.ml.features import ONNX_BATCH
    from desktop.ml.onnx_engine import load_onnx_extractor
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
    crops = torch.stack([transform(np.ascontiguousarray(image[..., ::-1])) for image in decoded]).numpy()
    onnx = load_onnx_extractor(spec, predictor.pretrained_identity, predictor.model.backbone)
    assert onnx is not None, "ONNX Runtime must work for this benchmark"
    step = min(batch, ONNX_BATCH)
    onnx(crops[:step])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(crops), step):
        onnx(crops[start:start + step])
    return decode_seconds, time.perf_counter() - started


def time_cold_pass(paths: list[Path], batch: int, *, onnx: bool) -> float:
    """extract_features of every file with an empty cache, as frozen training's first run (CPU: one view)."""
    from desktop.ml.backbones import DEFAULT_BACKBONE, build_feature_extractor, get_backbone, require_weights
    from desktop.ml.backbones import weights_identity as identity_of
    from desktop.ml.features import extract_features, open_feature_cache

    spec = get_backbone(DEFAULT_BACKBONE)
    weights = require_weights(spec.name)
    extractor = build_feature_extractor(spec, weights)[0]
    identity = identity_of(weights)
    hashes = [f"{'onnx' if onnx else 'torch'}-{index}" for index in range(len(paths))]
    with tempfile.TemporaryDirectory() as cache_dir, _engine(onnx):
        extract_features(extractor, spec, paths[:2], None, weights_identity=identity)  # export, warm-up
        cache = open_feature_cache(Path(cache_dir), spec, identity)
        started = time.perf_counter()
        result = extract_features(extractor, spec, paths, hashes, cache=cache, batch_size=batch,
                                  weights_identity=identity)
        seconds = time.perf_counter() - started
    assert result.ok.all() and result.computed == len(paths)
    return seconds


def png_files(count: int) -> list[Path]:
    """Real clip-art PNGs (tuxpaint stamps) when installed, else Fashion-MNIST written as 96-px PNGs."""
    stamps = sorted(Path("/usr/share/tuxpaint/stamps").rglob("*.png"))
    if len(stamps) >= count:
        return [stamps[i] for i in np.random.default_rng(0).permutation(len(stamps))[:count]]
    from bench import fashion_mnist

    written = fashion_mnist.write_folder(OUT_DIR / f"predict-pngs-{count}", -(-count // 10))
    return [path for path, _ in written][:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="number of photos (default 200; 0 skips them)")
    parser.add_argument("--megapixels", type=float, default=12.0, help="size of each photo (default 12)")
    parser.add_argument("--pngs", type=int, default=300, help="number of PNGs (default 300; 0 skips them)")
    parser.add_argument("--batch", type=int, default=32, help="batch size asked of (b), (c) and (d) (default 32)")
    parser.add_argument("--repeat", type=int, default=1, help="time each measurement N times, keep the best")
    args = parser.parse_args(argv)

    sets = {}
    if args.count:
        photos = generate(OUT_DIR / f"import-photos-{args.count}x{args.megapixels:g}mp", args.count, args.megapixels)
        sets[f"{args.count} photos of {args.megapixels:g} MP"] = photos
    if args.pngs:
        sets[f"{args.pngs} PNGs"] = png_files(args.pngs)
    work = Path(tempfile.mkdtemp(prefix="predict-bench-"))
    results: dict[str, dict[str, float]] = {}
    try:
        model_file = make_checkpoint(work)
        for name, paths in sets.items():
            warm(paths)
            best: dict[str, float] = {}
            for _ in range(max(1, args.repeat)):
                runs = {"naive": time_naive(model_file, paths),
                        "torch": time_pigeonhole(model_file, paths, args.batch, onnx=False),
                        "pigeonhole": time_pigeonhole(model_file, paths, args.batch)}
                if paths[0].suffix.lower() in (".jpg", ".jpeg"):
                    decode, forward = time_floor(model_file, paths, args.batch)
                    runs.update(floor=decode + forward, decode=decode, forward=forward)
                else:
                    runs.update(cold_torch=time_cold_pass(paths, args.batch, onnx=False),
                                cold_onnx=time_cold_pass(paths, args.batch, onnx=True))
                best = {key: min(best.get(key, float("inf")), value) for key, value in runs.items()}
            results[name] = best
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"batch {args.batch}, {os.cpu_count()} CPUs, best of {max(1, args.repeat)}")
    for name, best in results.items():
        count = len(sets[name])
        print(name)
        for key, label in (("naive", "(a) naive loop, Pillow, torch, one at a time"),
                           ("torch", "(b) Pigeonhole predictor, torch"),
                           ("pigeonhole", "(c) Pigeonhole predictor, ONNX Runtime"),
                           ("floor", "(d) floor: reduced decode + ONNX Runtime forward"),
                           ("cold_torch", "cold feature pass, torch"),
                           ("cold_onnx", "cold feature pass, ONNX Runtime")):
            if key in best:
                print(f"  {label:<50} {best[key]:7.2f} s   {count / best[key]:6.1f} images/s")
        print(f"  (c) vs (a): {best['naive'] / best['pigeonhole']:.2f}x faster")
        print(f"  (c) vs (b): {best['torch'] / best['pigeonhole']:.2f}x faster  (aim >= 2)")
        if "floor" in best:
            print(f"    floor: decoding {best['decode']:.2f} s, forward pass {best['forward']:.2f} s")
            print(f"  (c) vs (d): {best['pigeonhole'] / best['floor']:.2f}x the floor's time  (aim <= 1.25)")
        if "cold_onnx" in best:
            print(f"  cold pass torch / ONNX Runtime: {best['cold_torch'] / best['cold_onnx']:.2f}x  (aim >= 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
