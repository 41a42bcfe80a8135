"""Write a small labelled photo folder for the packaging smoke test: FOLDER/<class>/<n>.png plus one broken file.

    python3 packaging/linux/make_photos.py FOLDER [--per-class N]

Standard library only (zlib PNGs), so it runs on any machine that builds or tests the package, whatever Python
packages it has. Two classes that a network can tell apart: "circles" (round blobs) and "stripes".
"""

from __future__ import annotations

import argparse
import math
import struct
import zlib
from pathlib import Path


def write_png(path: Path, width: int, height: int, pixel) -> None:
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter type 0 for each scanline
        for x in range(width):
            row += bytes(pixel(x, y))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
                     + chunk(b"IEND", b""))


def circles(i: int):
    hue = (i * 47) % 360
    base = tuple(int(127 + 100 * math.cos(math.radians(hue + shift))) for shift in (0, 120, 240))
    cx, cy, r = 60 + 7 * (i % 5), 50 + 5 * (i % 3), 26 + 3 * (i % 4)

    def pixel(x, y):
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
        return base if inside else (235, 232, 224)

    return pixel


def stripes(i: int):
    period = 10 + 2 * (i % 4)
    dark = (40 + 12 * (i % 5), 60, 90 + 10 * (i % 3))

    def pixel(x, y):
        return dark if ((x + y * (i % 2)) // period) % 2 else (250, 220, 120)

    return pixel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--per-class", type=int, default=6)
    args = parser.parse_args()
    for name, painter in (("circles", circles), ("stripes", stripes)):
        target = args.folder / name
        target.mkdir(parents=True, exist_ok=True)
        for i in range(args.per_class):
            write_png(target / f"{name}-{i + 1:02d}.png", 128, 96, painter(i))
    (args.folder / "circles" / "broken.jpg").write_bytes(b"not a jpeg at all")  # must be reported as broken


if __name__ == "__main__":
    main()
