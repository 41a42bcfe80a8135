"""Build the Windows .ico and the macOS .icns from the PNG icons in resources/icons/ (Pillow, any OS).

Each size is taken from its own hand-made PNG rather than scaled from the largest, so 16 and 24 px stay crisp.
Used by packaging/pigeonhole.spec and scripts/build-nsis-check; also runnable: python3 packaging/icons.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # 256 is the largest size an .ico holds
ICNS_SIZES = (16, 32, 64, 128, 256, 512)


def _images(sizes: tuple[int, ...]):
    from PIL import Image

    return [Image.open(ICONS / f"pigeonhole-{size}.png").convert("RGBA") for size in sizes]


def write_ico(target: Path) -> Path:
    images = _images(ICO_SIZES)
    target.parent.mkdir(parents=True, exist_ok=True)
    largest = images[-1]
    largest.save(target, format="ICO", sizes=[im.size for im in images], append_images=images[:-1])
    return target


def write_icns(target: Path) -> Path:
    images = _images(ICNS_SIZES)
    target.parent.mkdir(parents=True, exist_ok=True)
    images[-1].save(target, format="ICNS", append_images=images[:-1])
    return target


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    print(write_ico(out / "pigeonhole.ico"))
    print(write_icns(out / "pigeonhole.icns"))
