"""HEIC/HEIF through libheif (``pi_heif``, the decode-only build of pillow-heif), and their embedded thumbnails.

HEVC has no reduced-size decoding like JPEG's 1/8 DCT scaling, so a 12-megapixel HEIC costs a full decode even
for a 256-px thumbnail. Phones embed a small picture (iPhone: 320 x 240) linked to the main one by a ``thmb``
reference. pi_heif does not decode thumbnails, so ``thumbnail_file`` makes a copy of the file in which the
thumbnail is the primary picture (its item id in ``pitm``, its ``thmb`` link renamed so libheif does not hide
it); the caller opens that copy like any HEIC. Boxes are parsed defensively: anything unexpected means "no
thumbnail", never an error.
"""

from __future__ import annotations

import struct

_registered = False


def register() -> bool:
    """Teach Pillow HEIC/HEIF (once, on the first such file: libheif is not loaded for a folder of JPEGs).
    False when pi_heif is not installed."""
    global _registered
    if not _registered:
        try:
            import pi_heif
        except ImportError:
            return False
        # The primary picture only: thumbnails are found here, depth maps and auxiliary images are not needed.
        pi_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
        _registered = True
    return True


def is_registered() -> bool:
    return _registered


def _children(data: bytes | bytearray, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The boxes between ``start`` and ``end``: type -> (offset, size), the first of each type."""
    found: dict[bytes, tuple[int, int]] = {}
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        if size < 8 or start + size > end:  # 0 (to the end), 1 (64-bit) or damaged: not in a meta box
            break
        found.setdefault(kind, (start, size))
        start += size
    return found


def thumbnail_file(data: bytes) -> bytes | None:
    """A copy of the HEIF file whose primary picture is the main picture's thumbnail, or None."""
    try:
        top = _children(data, 0, len(data))
        if b"meta" not in top:
            return None
        meta_at, meta_size = top[b"meta"]
        meta = _children(data, meta_at + 12, meta_at + meta_size)  # meta is a full box: 4 bytes of version
        if b"pitm" not in meta or b"iref" not in meta:
            return None
        pitm_at = meta[b"pitm"][0]
        wide_ids = data[pitm_at + 8] != 0  # version 1: 4-byte item ids
        primary = struct.unpack_from(">I" if wide_ids else ">H", data, pitm_at + 12)[0]
        thumbnail, link_at = _thumbnail_of(data, *meta[b"iref"], primary)
        if thumbnail is None:
            return None
        copy = bytearray(data)
        struct.pack_into(">I" if wide_ids else ">H", copy, pitm_at + 12, thumbnail)
        copy[link_at + 4:link_at + 8] = b"pghT"  # an unknown reference type: ignored
        return bytes(copy)
    except (struct.error, IndexError):
        return None


def _thumbnail_of(data: bytes, iref_at: int, iref_size: int, primary: int) -> tuple[int | None, int]:
    """(item id of a thumbnail of ``primary``, offset of its ``thmb`` box), or (None, 0)."""
    wide = data[iref_at + 8] != 0  # version 1: 4-byte item ids
    id_format, id_size = (">I", 4) if wide else (">H", 2)
    position, end = iref_at + 12, iref_at + iref_size
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        if size < 8:
            return None, 0
        if kind == b"thmb":
            source = struct.unpack_from(id_format, data, position + 8)[0]
            count = struct.unpack_from(">H", data, position + 8 + id_size)[0]
            targets = [struct.unpack_from(id_format, data, position + 10 + id_size + id_size * index)[0]
                       for index in range(count)]
            if primary in targets and source != primary:
                return source, position
        position += size
    return None, 0
