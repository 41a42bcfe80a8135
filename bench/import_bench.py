"""Import speed: Pigeonhole's import against a Pillow baseline and the reduced-decoding floor.

    python -m bench.import_bench [--count 200] [--megapixels 12] [--dir DIR] [--keep] [--repeat N]

Generates ``--count`` photo-like JPEGs once (cached under bench/out/ and reused while they exist), reads
them all once so every measurement runs on a warm page cache, then times:

  (a) import   desktop.core.importer.import_folder into a fresh (already created) project: scan, hash,
               probe, thumbnail, database; all cores (the importer's own thread pool)
  (b) pillow   single-threaded Image.open + thumbnail((256, 256)) + save as JPEG: what a simple script does
  (c) floor    cv2.imdecode with the best IMREAD_REDUCED_COLOR_* that keeps >= 256 px, from bytes read
               from disk, on ThreadPoolExecutor(os.cpu_count()): decoding alone, nothing else

and prints the times and the ratios (a)/(c) (aim: <= 1.25) and (b)/(a).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

OUT_DIR = Path(__file__).resolve().parent / "out"
THUMB = 256
JPEG_QUALITY = 92
NOISE_SIGMA = 6.0  # sensor-like noise; with the upscaled photos this gives camera-like file sizes


# --- generating the photos ------------------------------------------------------------------------------------

def _base_photos() -> list[np.ndarray]:
    """Real photographs (RGB) from scikit-image's bundled samples, or synthetic ones without it."""
    try:
        from skimage import data
    except ImportError:
        data = None
    if data is not None:
        photos = []
        for name in ("astronaut", "coffee", "chelsea", "rocket"):
            try:
                photos.append(getattr(data, name)())
            except Exception:  # a sample that needs downloading: skip it
                continue
        if photos:
            return photos
    rng = np.random.default_rng(0)
    synthetic = []
    for _ in range(4):
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        synthetic.append(cv2.GaussianBlur(cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC), (0, 0), 8))
    return synthetic


def _cover(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """Crop to the target aspect ratio, then upscale (cubic) to width x height."""
    h, w = photo.shape[:2]
    scale = max(width / w, height / h)
    crop_w, crop_h = min(w, round(width / scale)), min(h, round(height / scale))
    y0, x0 = (h - crop_h) // 2, (w - crop_w) // 2
    return cv2.resize(photo[y0 : y0 + crop_h, x0 : x0 + crop_w], (width, height), interpolation=cv2.INTER_CUBIC)


def _noisy_bases(width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    bases = []
    for photo in _base_photos():
        big = _cover(photo, width, height).astype(np.float32)
        big += rng.standard_normal(big.shape, dtype=np.float32) * NOISE_SIGMA
        bases.append(cv2.cvtColor(np.clip(big, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return bases


def _variant(base: np.ndarray, index: int) -> np.ndarray:
    """A distinct image per index, cheaply: roll, maybe mirror, shift brightness (same entropy as the base)."""
    rng = np.random.default_rng(1000 + index)
    h, w = base.shape[:2]
    pixels = np.roll(base, (int(rng.integers(h)), int(rng.integers(w))), axis=(0, 1))
    if index % 2:
        pixels = cv2.flip(pixels, 1)
    return cv2.add(pixels, (int(rng.integers(-20, 21)),) * 3 + (0,))


def generate(directory: Path, count: int, megapixels: float) -> list[Path]:
    """Write the photos unless a complete set with the same parameters is already there."""
    width = round(math.sqrt(megapixels * 1e6 * 4 / 3))
    height = round(width * 3 / 4)
    marker = directory / "params.json"
    params = {"count": count, "width": width, "height": height, "quality": JPEG_QUALITY, "noise": NOISE_SIGMA}
    paths = [directory / f"photo_{index:04d}.jpg" for index in range(count)]
    if marker.is_file() and json.loads(marker.read_text()) == params and all(p.is_file() for p in paths):
        return paths
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    started = time.perf_counter()
    print(f"generating {count} photos of {width}x{height} in {directory} ...", file=sys.stderr)
    bases = _noisy_bases(width, height)

    def write(index: int) -> None:
        ok, encoded = cv2.imencode(".jpg", _variant(bases[index % len(bases)], index),
                                   [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok
        paths[index].write_bytes(encoded.tobytes())

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(write, range(count)))
    marker.write_text(json.dumps(params))
    print(f"generated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return paths


# --- the three measurements -----------------------------------------------------------------------------------

def time_import(photos_dir: Path, work: Path) -> tuple[float, int]:
    from desktop.core.importer import import_folder
    from desktop.core.project import open_project

    project_dir = work / "bench.pigeonhole"
    shutil.rmtree(project_dir, ignore_errors=True)
    with open_project(project_dir) as project:  # creating the project (~30 ms) is not timed
        started = time.perf_counter()
        summary = import_folder(project, photos_dir)
        seconds = time.perf_counter() - started
    if summary.broken:
        raise SystemExit(f"import reported {summary.broken} broken files: {summary.broken_files[:3]}")
    return seconds, summary.imported


def time_pillow(paths: list[Path], work: Path) -> float:
    out = work / "pillow-thumbnails"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            image.thumbnail((THUMB, THUMB))
            image.save(out / path.name, "JPEG", quality=85)
    return time.perf_counter() - started


def reduced_flag(path: Path) -> tuple[int, int]:
    """The strongest IMREAD_REDUCED_COLOR_* that keeps the long side >= THUMB, and its factor."""
    with Image.open(path) as image:
        long_side = max(image.size)
    for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                         (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if long_side // factor >= THUMB:
            return flag, factor
    return cv2.IMREAD_COLOR, 1


def time_floor(paths: list[Path]) -> float:
    flag, _ = reduced_flag(paths[0])

    def decode(path: Path) -> tuple[int, ...]:
        pixels = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), flag)
        return pixels.shape

    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        shapes = list(pool.map(decode, paths))
    seconds = time.perf_counter() - started
    assert all(max(shape[:2]) >= THUMB for shape in shapes)
    return seconds


def warm(paths: list[Path]) -> int:
    """Read every file once so all three measurements start from a warm page cache."""
    return sum(len(path.read_bytes()) for path in paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="number of photos (default 200)")
    parser.add_argument("--megapixels", type=float, default=12.0, help="size of each photo (default 12)")
    parser.add_argument("--dir", type=Path, help="where the photos are cached (default bench/out/...)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the benchmark project and Pillow thumbnails (printed path) instead of deleting them")
    parser.add_argument("--repeat", type=int, default=1, help="time each measurement N times, keep the best")
    args = parser.parse_args(argv)

    # cv2.setNumThreads(1), as the app does: parallelism comes from decoding many files at once.
    import desktop.io.images  # noqa: F401

    photos_dir = args.dir or OUT_DIR / f"import-photos-{args.count}x{args.megapixels:g}mp"
    paths = generate(photos_dir, args.count, args.megapixels)
    total_bytes = warm(paths)
    _, factor = reduced_flag(paths[0])
    with Image.open(paths[0]) as first:
        size = first.size
    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    try:
        results: dict[str, float] = {}
        imported = 0
        for _ in range(max(1, args.repeat)):
            floor = time_floor(paths)
            seconds, imported = time_import(photos_dir, work)
            pillow = time_pillow(paths, work)
            for key, value in (("import", seconds), ("pillow", pillow), ("floor", floor)):
                results[key] = min(results.get(key, math.inf), value)
        assert imported == len(paths), f"imported {imported} of {len(paths)}"
    finally:
        if args.keep:
            print(f"kept the project and thumbnails in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    count = len(paths)
    print(f"{count} JPEGs of {size[0]}x{size[1]} ({args.megapixels:g} MP), {total_bytes / count / 1e6:.1f} MB each "
          f"on average; {os.cpu_count()} CPUs; floor decodes at 1/{factor}")
    for key, label in (("import", "(a) import_folder, thumbnails, database"),
                       ("pillow", "(b) Pillow open+thumbnail+save, 1 thread"),
                       ("floor", "(c) reduced cv2.imdecode only, all cores")):
        value = results[key]
        print(f"{label:44s} {value:7.2f} s  {value / count * 1000:6.1f} ms/photo  {count / value:6.1f} photos/s")
    ratio = results["import"] / results["floor"]
    print(f"(a)/(c) = {ratio:.2f}  (aim <= 1.25: {'met' if ratio <= 1.25 else 'NOT met'})")
    print(f"(b)/(a) = {results['pillow'] / results['import']:.2f}  (speed-up over the simple Pillow script)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
