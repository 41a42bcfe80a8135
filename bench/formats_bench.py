"""Import speed of HEIC and camera RAW photos against JPEGs of the same pixels, in the same run.

    python -m bench.formats_bench [--count 6] [--megapixels 12] [--repeat 3]

Writes ``--count`` photo-like pictures (bench.import_bench's: real photographs upscaled, with sensor noise) once
as three folders under bench/out/formats-COUNTxMPmp/ (reused while they exist):

  jpeg/  the pictures as JPEG (quality 92)
  heic/  the same pixels as HEIC with a 320-px thumbnail, as an iPhone writes them (heif-enc, quality 60, about an
         iPhone's bytes per pixel; needs libheif-examples)
  raw/   DNGs (tests/formatmakers.dng_bytes): 12-bit sensor data of the same size with the jpeg/ file embedded as
         the camera's preview

then imports each folder into a fresh project (desktop.core.importer.import_folder: read, hash, probe, 256-px
thumbnail, database; the importer's thread pool) and times the decodes on one thread (``desktop.io.images.decode``
as the import asks for it, and at full size). It prints ms per photo and the ratios: HEIC/JPEG import (aim <= 2)
and RAW preview/plain JPEG decode (aim <= 1.5: the RAW's preview is the jpeg/ file, so this is the cost of
getting at it), with the RAW/JPEG import for reference (a RAW has 7 times the bytes to read and hash).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import import_bench

OUT_DIR = Path(__file__).resolve().parent / "out"


def generate(directory: Path, count: int, megapixels: float) -> dict[str, list[Path]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import formatmakers

    heif_enc = shutil.which("heif-enc")
    if heif_enc is None:
        raise SystemExit("heif-enc is missing: sudo apt-get install -y libheif-examples")
    jpegs = import_bench.generate(directory / "jpeg", count, megapixels)
    heics, raws = [], []
    for folder in ("heic", "raw"):
        (directory / folder).mkdir(parents=True, exist_ok=True)
    for jpeg in jpegs:
        heic = directory / "heic" / (jpeg.stem + ".heic")
        if not heic.exists():
            subprocess.run([heif_enc, "-q", "60", "-t", "320", str(jpeg), "-o", str(heic)], check=True,
                           capture_output=True)
        heics.append(heic)
        raw = directory / "raw" / (jpeg.stem + ".dng")
        if not raw.exists():
            from desktop.io import images

            rgb = images.load_rgb(jpeg)
            rgb = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]  # whole 2x2 mosaic cells
            height, width = rgb.shape[:2]
            sensor = np.zeros((height, width), np.uint16)  # an RGGB mosaic of the picture, 12 bit
            sensor[0::2, 0::2] = rgb[0::2, 0::2, 0].astype(np.uint16) << 4
            sensor[0::2, 1::2] = rgb[0::2, 1::2, 1].astype(np.uint16) << 4
            sensor[1::2, 0::2] = rgb[1::2, 0::2, 1].astype(np.uint16) << 4
            sensor[1::2, 1::2] = rgb[1::2, 1::2, 2].astype(np.uint16) << 4
            dng = formatmakers.dng_bytes(sensor=sensor)
            raw.write_bytes(formatmakers.with_jpeg_preview(dng, jpeg.read_bytes(), width, height))
        raws.append(raw)
    return {"jpeg": jpegs, "heic": heics, "raw": raws}


def decode_ms(contents: list[bytes], **sizes: int) -> float:
    """ms per photo for desktop.io.images.decode on one thread, the bytes already read."""
    from desktop.io import images

    started = time.perf_counter()
    for data in contents:
        images.decode(data, **sizes)
    return (time.perf_counter() - started) * 1000 / len(contents)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--repeat", type=int, default=3, help="time each measurement N times, keep the best")
    args = parser.parse_args(argv)
    directory = OUT_DIR / f"formats-{args.count}x{args.megapixels:g}mp"
    started = time.perf_counter()
    sets = generate(directory, args.count, args.megapixels)
    print(f"photos in {directory} ({time.perf_counter() - started:.0f} s to make or find); "
          + ", ".join(f"{name}: {sum(p.stat().st_size for p in paths) / len(paths) / 1e6:.1f} MB"
                      for name, paths in sets.items()))
    contents = {name: [path.read_bytes() for path in paths] for name, paths in sets.items()}
    timings: dict[str, dict[str, list[float]]] = {name: {"import": [], "decode": [], "full": []} for name in sets}
    with tempfile.TemporaryDirectory() as work:
        # Each round times the three formats back to back, so a busy machine slows them alike; the best round
        # of each counts.
        for attempt in range(max(1, args.repeat)):
            for name, paths in sets.items():
                seconds, imported = import_bench.time_import(paths[0].parent, Path(work) / f"{name}{attempt}")
                assert imported == len(paths), (name, imported)
                timings[name]["import"].append(seconds * 1000 / len(paths))
                timings[name]["decode"].append(decode_ms(contents[name], min_long_side=import_bench.THUMB))
                timings[name]["full"].append(decode_ms(contents[name]))
    results = {name: {key: min(values) for key, values in kinds.items()} for name, kinds in timings.items()}
    print(f"{'':6} {'import ms/photo':>16} {'thumbnail decode':>17} {'full decode':>12}   (decodes on 1 thread)")
    for name, result in results.items():
        print(f"{name:6} {result['import']:16.1f} {result['decode']:17.1f} {result['full']:12.1f}")
    heic = results["heic"]["import"] / results["jpeg"]["import"]
    print(f"HEIC/JPEG import = {heic:.2f} (aim <= 2: {'met' if heic <= 2 else 'NOT met'}); "
          f"full decode alone = {results['heic']['full'] / results['jpeg']['full']:.2f}")
    preview = results["raw"]["decode"] / results["jpeg"]["decode"]
    print(f"RAW preview/plain JPEG decode = {preview:.2f} at thumbnail size (aim <= 1.5: "
          f"{'met' if preview <= 1.5 else 'NOT met'}), {results['raw']['full'] / results['jpeg']['full']:.2f} "
          f"at full size; RAW/JPEG import = {results['raw']['import'] / results['jpeg']['import']:.2f} "
          "(the RAW's bytes are read and hashed too)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
