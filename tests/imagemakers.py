"""Writers of real image files, good and bad, for tests. No Qt, no torch: OpenCV, Pillow and numpy only.

Photo-like pixels are smooth gradients plus mild noise, so JPEG sizes and decode times resemble photos
rather than flat colours or pure noise.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

# EXIF tag numbers
ORIENTATION_TAG = 0x0112


def photo_array(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGB uint8 (height, width, 3) array: smooth colour gradients and blobs with a little noise."""
    rng = np.random.default_rng(seed)
    # Smooth structure: a few low-frequency waves, cheap at any size because they are separable.
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    channels = []
    for channel in range(3):
        fx, fy, px, py = rng.uniform(1.0, 4.0), rng.uniform(1.0, 4.0), rng.uniform(0, 6.3), rng.uniform(0, 6.3)
        wave = np.sin(xs * fx * 3.14 + px) * 60 + np.cos(ys * fy * 3.14 + py) * 60
        channels.append(wave + 128 + channel * 10)
    pixels = np.stack(channels, axis=-1)
    # Mid-frequency texture: upscaled random blobs, then fine noise.
    blobs = rng.normal(0, 25, (max(2, height // 32), max(2, width // 32), 3)).astype(np.float32)
    pixels += cv2.resize(blobs, (width, height), interpolation=cv2.INTER_CUBIC)
    pixels += rng.normal(0, 4, pixels.shape).astype(np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def jpeg_bytes(rgb: np.ndarray, quality: int = 90, exif_orientation: int | None = None, mode: str = "RGB") -> bytes:
    image = Image.fromarray(rgb)
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = exif_orientation
        image.save(buffer, "JPEG", quality=quality, exif=exif)
    else:
        image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(pixels: np.ndarray, exif_orientation: int | None = None) -> bytes:
    """PNG of an RGB, RGBA or 2-D grey uint8 array (Pillow)."""
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = exif_orientation
        image.save(buffer, "PNG", exif=exif)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- good files -----------------------------------------------------------------------------------------------

def write_jpeg(path: Path, width: int = 320, height: int = 240, seed: int = 0, **kwargs) -> Path:
    return write(path, jpeg_bytes(photo_array(width, height, seed), **kwargs))


def write_png(path: Path, width: int = 320, height: int = 240, seed: int = 0) -> Path:
    return write(path, png_bytes(photo_array(width, height, seed)))


def write_cmyk_jpeg(path: Path, width: int = 200, height: int = 150, seed: int = 0) -> Path:
    return write(path, jpeg_bytes(photo_array(width, height, seed), mode="CMYK"))


def write_png16(path: Path, width: int = 120, height: int = 90, seed: int = 0, grey: bool = False) -> Path:
    """A 16-bit PNG (OpenCV writes uint16 arrays as 16-bit PNG), colour or greyscale; value = 8-bit * 257."""
    rgb = photo_array(width, height, seed)
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if grey else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", pixels.astype(np.uint16) * 257)
    assert ok
    return write(path, encoded.tobytes())


def write_grey_png(path: Path, width: int = 120, height: int = 90, seed: int = 0) -> Path:
    grey = cv2.cvtColor(photo_array(width, height, seed), cv2.COLOR_RGB2GRAY)
    ok, encoded = cv2.imencode(".png", grey)  # a 2-D array: 8-bit greyscale PNG
    assert ok
    return write(path, encoded.tobytes())


RGBA_OPAQUE_COLOUR = (200, 30, 40)


def write_rgba_png(path: Path, width: int = 80, height: int = 60) -> Path:
    """Left half opaque red-ish, right half fully transparent, middle column half transparent."""
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., :3] = RGBA_OPAQUE_COLOUR
    rgba[:, : width // 2, 3] = 255
    rgba[:, width // 2, 3] = 128
    return write(path, png_bytes(rgba))


GIF_FRAME_COLOURS = ((250, 0, 0), (0, 0, 250), (0, 250, 0))


def write_animated_gif(path: Path, width: int = 64, height: int = 48) -> Path:
    frames = [Image.new("RGB", (width, height), colour) for colour in GIF_FRAME_COLOURS]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return write(path, buffer.getvalue())


def write_exif_rotated_jpeg(path: Path, width: int = 160, height: int = 100, orientation: int = 6) -> Path:
    """Stored ``width`` x ``height`` (landscape) with a red top-left corner, tagged with ``orientation``."""
    rgb = photo_array(width, height, seed=3)
    rgb[: height // 4, : width // 4] = (255, 0, 0)
    return write(path, jpeg_bytes(rgb, quality=95, exif_orientation=orientation))


# --- bad files ------------------------------------------------------------------------------------------------

def write_truncated_jpeg(path: Path, width: int = 320, height: int = 240) -> Path:
    data = jpeg_bytes(photo_array(width, height, seed=5))
    return write(path, data[: len(data) // 2])


def write_truncated_png(path: Path, width: int = 320, height: int = 240) -> Path:
    data = png_bytes(photo_array(width, height, seed=6))
    return write(path, data[: len(data) // 2])


def write_empty(path: Path) -> Path:
    return write(path, b"")


def write_text_as_image(path: Path) -> Path:
    return write(path, b"This is not a photo, just some text someone saved as .jpg\n" * 20)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_header_bytes(width: int, height: int) -> bytes:
    """A valid-looking, tiny 8-bit RGB PNG claiming ``width`` x ``height``, with a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def gif_header_bytes(width: int, height: int) -> bytes:
    """A GIF whose logical screen is ``width`` x ``height`` holding a single 1x1 frame."""
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00" + b"\x3b")


def write_png_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    return write(path, png_header_bytes(width, height))


def write_gif_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    return write(path, gif_header_bytes(width, height))


def make_socket_file(path: Path) -> Path:
    """A Unix socket named like an image: it stats fine but open() fails (ENXIO) even for root.

    Bound via a relative name from inside its folder, since socket paths are limited to ~108 bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = os.getcwd()
    os.chdir(path.parent)
    try:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path.name)
    finally:
        os.chdir(previous)
    return path


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# --- a folder with one of everything ----------------------------------------------------------------------------

# rel_path -> a fragment the broken reason must contain (lower case)
BAD_FILES = {
    "bad/truncated.jpg": "truncated",
    "bad/truncated.png": "truncated",
    "bad/empty.jpg": "empty",
    "bad/notes.jpg": "not an image",
    "bad/bomb.png": "megapixel",
    "bad/bomb.gif": "megapixel",
    "bad/socket.jpg": "cannot read",
}
GOOD_FILES = {
    # rel_path -> displayed (width, height)
    "good/photo.jpg": (320, 240),
    "good/PHOTO2.JPG": (300, 200),
    "good/photo.png": (200, 160),
    "good/cmyk.jpg": (200, 150),
    "good/deep16.png": (120, 90),
    "good/grey.png": (120, 90),
    "good/alpha.png": (80, 60),
    "good/animated.gif": (64, 48),
    "good/rotated.jpg": (100, 160),  # stored 160x100, EXIF orientation 6
    "été/猫 1.JPG": (120, 80),
    "été/Ünïcode.Png": (90, 60),
}
HIDDEN_FILES = (".hidden.jpg", "good/._photo.jpg", ".cache/inside.jpg")


def make_zoo(root: Path) -> Path:
    """Write every kind of good and bad file below ``root``, plus hidden files and a symlink loop."""
    write_jpeg(root / "good/photo.jpg", 320, 240, seed=1)
    write_jpeg(root / "good/PHOTO2.JPG", 300, 200, seed=2)
    write_png(root / "good/photo.png", 200, 160, seed=3)
    write_cmyk_jpeg(root / "good/cmyk.jpg")
    write_png16(root / "good/deep16.png")
    write_grey_png(root / "good/grey.png")
    write_rgba_png(root / "good/alpha.png")
    write_animated_gif(root / "good/animated.gif")
    write_exif_rotated_jpeg(root / "good/rotated.jpg")
    write_jpeg(root / "été/猫 1.JPG", 120, 80, seed=4)
    write_png(root / "été/Ünïcode.Png", 90, 60, seed=5)
    write_truncated_jpeg(root / "bad/truncated.jpg")
    write_truncated_png(root / "bad/truncated.png")
    write_empty(root / "bad/empty.jpg")
    write_text_as_image(root / "bad/notes.jpg")
    write_png_bomb(root / "bad/bomb.png")
    write_gif_bomb(root / "bad/bomb.gif")
    make_socket_file(root / "bad/socket.jpg")
    for hidden in HIDDEN_FILES:
        write_jpeg(root / hidden, 40, 30)
    write(root / "good/readme.txt", b"not an image extension: never looked at")
    (root / "good/loop").symlink_to("..", target_is_directory=True)  # good/loop -> root
    return root


# --- learnable pictures: three visually distinct classes, for training tests ------------------------------------

SHAPE_CLASSES = ("discs", "stripes", "checks")


def draw_shape(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """An RGB uint8 picture of ``kind`` on a noisy background."""
    background = rng.integers(60, 200, 3)
    image = np.clip(background + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    if kind == "discs":
        for _ in range(rng.integers(1, 3)):
            centre = tuple(int(c) for c in rng.integers(size // 4, 3 * size // 4, 2))
            cv2.circle(image, centre, int(rng.integers(size // 6, size // 3)), colour, -1, cv2.LINE_AA)
    elif kind == "stripes":
        period = int(rng.integers(6, 14))
        angle = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[0:size, 0:size]
        mask = (np.cos(angle) * xs + np.sin(angle) * ys) % period < period / 2
        image[mask] = colour
    else:
        cell = int(rng.integers(6, 16))
        ys, xs = np.mgrid[0:size, 0:size]
        image[((ys // cell) + (xs // cell)) % 2 == 0] = colour
    return image


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


def write_shape_folders(root: Path, per_class: int, seed: int = 0, classes: tuple[str, ...] = SHAPE_CLASSES) -> Path:
    """``root/<class>/<class>_NN.jpg|png``: ``per_class`` 64-96 px pictures per class (every third one a PNG)."""
    rng = np.random.default_rng(seed)
    for kind in classes:
        for index in range(per_class):
            size = int(rng.integers(64, 97))
            suffix = ".jpg" if index % 3 else ".png"
            write_rgb(root / kind / f"{kind}_{index:02d}{suffix}", draw_shape(kind, rng, size))
    return root


def write_lookalike_classes(root: Path) -> tuple[Path, Path]:
    """``root/labelled/{cats,dogs,owls}/NN.jpg``: noise photos whose features barely tell the classes apart, so
    every fold and shuffle shows in the trained figures; one exact and one re-saved copy among them; and
    ``root/unlabelled/new_N.jpg`` to predict. Returns (labelled, unlabelled)."""
    import shutil

    labelled, unlabelled = root / "labelled", root / "unlabelled"
    seed = 0
    for name in ("cats", "dogs", "owls"):
        for index in range(9):
            seed += 1
            write_jpeg(labelled / name / f"{index:02d}.jpg", 64, 48, seed=seed)
    shutil.copy(labelled / "cats" / "03.jpg", labelled / "cats" / "03 copy.jpg")
    write_jpeg(labelled / "dogs" / "05 again.jpg", 64, 48, seed=14, quality=80)
    for index in range(6):
        write_jpeg(unlabelled / f"new_{index}.jpg", 64, 48, seed=100 + index)
    return labelled, unlabelled
