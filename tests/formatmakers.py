"""Writers of tiny HEIC, AVIF and DNG files for tests, good and hostile.

HEIC: libheif's ``heif-enc`` (Debian's libheif-examples; the decode-only pi-heif cannot encode), tests that
need it are skipped with the command that installs it. AVIF: Pillow's own encoder. DNG: ``dng_bytes`` writes
the sensor data (no DNG package needed); ``with_preview`` chains a JPEG preview after it the way cameras embed
one.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import imagemakers as mk
import numpy as np
import pytest
from PIL import Image

HEIF_ENC = shutil.which("heif-enc")
needs_heif_enc = pytest.mark.skipif(HEIF_ENC is None,
                                    reason="heif-enc is missing: sudo apt-get install -y libheif-examples")


def heic_bytes(rgb: np.ndarray, quality: int = 60, exif_orientation: int | None = None,
               thumbnail: int | None = None) -> bytes:
    """An HEIC (HEVC) file of ``rgb``, through heif-enc; with ``exif_orientation``, an EXIF block saying so
    (heif-enc 1.15 copies it from a JPEG and leaves the pixels as they are); with ``thumbnail``, a thumbnail
    picture of that longer side, as phones embed."""
    assert HEIF_ENC is not None
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / ("in.png" if exif_orientation is None else "in.jpg"), Path(folder) / "out.heic"
        source.write_bytes(mk.png_bytes(rgb) if exif_orientation is None
                           else mk.jpeg_bytes(rgb, quality=98, exif_orientation=exif_orientation))
        thumbnail_options = ["-t", str(thumbnail)] if thumbnail else []
        subprocess.run([HEIF_ENC, "-q", str(quality), *thumbnail_options, str(source), "-o", str(target)], check=True,
                       capture_output=True, timeout=60)
        return target.read_bytes()


def avif_bytes(rgb: np.ndarray, exif_orientation: int | None = None) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    if exif_orientation is not None:
        exif[mk.ORIENTATION_TAG] = exif_orientation
    Image.fromarray(rgb).save(buffer, "AVIF", quality=80, exif=exif)
    return buffer.getvalue()


def quadrant_rgb(width: int, height: int, colour: tuple[int, int, int] = (255, 0, 0)) -> np.ndarray:
    """Black with the top-left quarter in ``colour``: which corner it lands in shows the orientation applied."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 2, : width // 2] = colour
    return rgb


def dng_bytes(width: int = 64, height: int = 48, orientation: int = 1, sensor: np.ndarray | None = None) -> bytes:
    """A DNG of a bright top-left quarter over dark noise, or of ``sensor`` (RGGB, 12-bit values in 16-bit
    samples, uncompressed), no preview: one little-endian TIFF directory with the DNG tags LibRaw needs, written
    here so the tests need no DNG package (pidng builds a C extension: no install without a compiler)."""
    if sensor is None:
        sensor = np.random.default_rng(0).integers(0, 400, (height, width))
        sensor[: height // 2, : width // 2] = 4000
    height, width = sensor.shape
    pixels = np.ascontiguousarray(sensor, dtype="<u2").tobytes()
    model = b"Pigeonhole Test camera\x00"
    # (tag, type, values): types 1 BYTE, 2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL, 10 SRATIONAL; data comes after.
    entries: list[tuple[int, int, list | bytes]] = [
        (254, 4, [0]), (256, 4, [width]), (257, 4, [height]), (258, 3, [16]), (259, 3, [1]), (262, 3, [32803]),
        (271, 2, b"Pigeonhole\x00"), (272, 2, b"Test camera\x00"), (273, 4, [0]), (274, 3, [orientation]),
        (277, 3, [1]), (278, 4, [height]), (279, 4, [len(pixels)]), (284, 3, [1]), (33421, 3, [2, 2]),
        (33422, 1, [0, 1, 1, 2]), (50706, 1, [1, 4, 0, 0]), (50707, 1, [1, 2, 0, 0]), (50708, 2, model),
        (50714, 4, [0]), (50717, 4, [4095]),
        (50721, 10, [1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1]),  # ColorMatrix1: identity
        (50728, 5, [1, 1, 1, 1, 1, 1]), (50778, 3, [21])]
    formats = {1: "B", 3: "H", 4: "I", 5: "I", 10: "i"}
    directory_at = 8
    data_at = directory_at + 2 + 12 * len(entries) + 4
    header, directory, data = bytearray(b"II*\x00" + struct.pack("<I", directory_at)), bytearray(), bytearray()
    directory += struct.pack("<H", len(entries))
    strip_entry = None
    for tag, kind, values in entries:
        raw = values if kind == 2 else struct.pack(f"<{len(values)}{formats[kind]}", *values)
        count = len(values) // (2 if kind in (5, 10) else 1)
        if tag == 273:
            strip_entry = len(header) + len(directory) + 8
        if len(raw) <= 4:
            directory += struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\x00")
        else:
            directory += struct.pack("<HHII", tag, kind, count, data_at + len(data))
            data += raw + b"\x00" * (len(raw) % 2)
    directory += struct.pack("<I", 0)
    out = header + directory + data
    struct.pack_into("<I", out, strip_entry, len(out))
    return bytes(out + pixels)


def with_preview(tiff: bytes, preview_rgb: np.ndarray) -> bytes:
    """Chain a second directory holding a JPEG preview (NewSubfileType 1) after a little-endian TIFF's first."""
    height, width = preview_rgb.shape[:2]
    return with_jpeg_preview(tiff, mk.jpeg_bytes(preview_rgb), width, height)


def with_jpeg_preview(tiff: bytes, jpeg: bytes, width: int, height: int) -> bytes:
    """``with_preview`` for JPEG bytes as they are."""
    assert tiff[:4] == b"II*\x00"
    first = struct.unpack_from("<I", tiff, 4)[0]
    next_at = first + 2 + 12 * struct.unpack_from("<H", tiff, first)[0]
    out = bytearray(tiff) + b"\x00" * (len(tiff) % 2)
    jpeg_at = len(out)
    out += jpeg + b"\x00" * (len(jpeg) % 2)
    directory = len(out)
    entries = [(254, 4, 1, 1), (256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, directory + 2 + 12 * 9 + 4),
               (259, 3, 1, 7), (262, 3, 1, 6), (273, 4, 1, jpeg_at), (277, 3, 1, 3), (279, 4, 1, len(jpeg))]
    out += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<HH", value, 0) if kind == 3 and count == 1 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0) + struct.pack("<HHH", 8, 8, 8)
    struct.pack_into("<I", out, next_at, directory)
    return bytes(out)


def with_declared_size(tiff: bytes, width: int, height: int) -> bytes:
    """The same little-endian TIFF whose first directory claims ``width`` x ``height`` (a bomb's header)."""
    out = bytearray(tiff)
    first = struct.unpack_from("<I", out, 4)[0]
    for index in range(struct.unpack_from("<H", out, first)[0]):
        entry = first + 2 + 12 * index
        tag, kind = struct.unpack_from("<HH", out, entry)
        if tag in (256, 257):
            value = width if tag == 256 else height
            struct.pack_into("<I" if kind == 4 else "<HH", out, entry + 8, *((value,) if kind == 4 else (value, 0)))
    return bytes(out)


def _boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """ISO media boxes between start and end: type -> (offset, size) (the first of each type)."""
    found: dict[bytes, tuple[int, int]] = {}
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        found.setdefault(kind, (start, size))
        start += size
    return found


def with_rotation(heic: bytes, quarter_turns: int) -> bytes:
    """The HEIC with an ``irot`` property on its primary picture (anticlockwise, as phones record orientation):
    heif-enc 1.15 cannot write one. The property goes at the end of ``ipco``; box sizes and iloc's file offsets
    follow."""
    top = _boxes(heic, 0, len(heic))
    meta_at, meta_size = top[b"meta"]
    meta = _boxes(heic, meta_at + 12, meta_at + meta_size)
    iprp_at, iprp_size = meta[b"iprp"]
    iprp = _boxes(heic, iprp_at + 8, iprp_at + iprp_size)
    (ipco_at, ipco_size), (ipma_at, ipma_size) = iprp[b"ipco"], iprp[b"ipma"]
    primary = struct.unpack_from(">H", heic, meta[b"pitm"][0] + 12)[0]
    property_index = len(_all_boxes(heic, ipco_at + 8, ipco_at + ipco_size)) + 1
    irot = struct.pack(">I4sB", 9, b"irot", quarter_turns % 4)
    # ipma: version 0, flags 0 -> 2-byte item ids, 1-byte associations (essential bit + 7-bit index).
    assert heic[ipma_at + 8] == 0 and heic[ipma_at + 11] & 1 == 0
    ipma = bytearray(heic[ipma_at:ipma_at + ipma_size])
    position = 16
    for _ in range(struct.unpack_from(">I", ipma, 12)[0]):
        item, count = struct.unpack_from(">HB", ipma, position)
        if item == primary:
            ipma[position + 2] = count + 1
            ipma[position + 3 + count:position + 3 + count] = bytes([0x80 | property_index])
            break
        position += 3 + count
    shift = len(irot) + 1
    out = bytearray(heic[:ipco_at + ipco_size] + irot + heic[ipco_at + ipco_size:ipma_at] + ipma
                    + heic[ipma_at + ipma_size:])
    for at, grow in ((meta_at, shift), (iprp_at, shift), (ipco_at, len(irot)), (ipma_at + len(irot), 1)):
        struct.pack_into(">I", out, at, struct.unpack_from(">I", out, at)[0] + grow)
    _shift_file_offsets(out, meta[b"iloc"][0], shift)
    return bytes(out)


def _all_boxes(data: bytes, start: int, end: int) -> list[bytes]:
    kinds = []
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        kinds.append(kind)
        start += size
    return kinds


def _shift_file_offsets(data: bytearray, iloc_at: int, shift: int) -> None:
    """Add ``shift`` to every file offset in the iloc box at ``iloc_at`` (version 0 or 1, 4-byte fields)."""
    version = data[iloc_at + 8]
    offset_size, length_size = data[iloc_at + 12] >> 4, data[iloc_at + 12] & 15
    base_size, index_size = data[iloc_at + 13] >> 4, (data[iloc_at + 13] & 15) if version else 0
    assert version in (0, 1) and offset_size in (0, 4) and length_size == 4 and base_size in (0, 4)
    position = iloc_at + 16
    for _ in range(struct.unpack_from(">H", data, iloc_at + 14)[0]):
        method = struct.unpack_from(">H", data, position + 2)[0] & 15 if version else 0
        position += 6 if version else 4  # item id, [construction method], data reference index
        if method == 0 and base_size:
            struct.pack_into(">I", data, position, struct.unpack_from(">I", data, position)[0] + shift)
        position += base_size
        extents = struct.unpack_from(">H", data, position)[0]
        position += 2
        for _ in range(extents):
            position += index_size
            if method == 0 and not base_size and offset_size:
                struct.pack_into(">I", data, position, struct.unpack_from(">I", data, position)[0] + shift)
            position += offset_size + length_size
