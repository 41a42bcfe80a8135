"""Camera RAW files (CR2/CR3, NEF, ARW, RAF, ORF, RW2, DNG) through LibRaw (``rawpy``).

A RAW file is recognised by its contents, never its name: its magic bytes, or a TIFF whose first directory
names a camera (``Make``) or a DNG version, which LibRaw then confirms. Opening only parses the header, so
the size is checked before any pixel is decoded. Pixels come from the JPEG preview the camera embedded
(fast: ``desktop.io.images`` decodes it at reduced size) when it is large enough, else from a half-size
demosaic. ``rawpy`` is imported on the first RAW file, so a folder of JPEGs never loads LibRaw.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

# LibRaw's flip (how the sensor's picture is turned) as the EXIF orientation that turns it upright.
_FLIP_TO_ORIENTATION = {3: 3, 5: 8, 6: 6}
_TIFF_MAKE = 271
_TIFF_DNG_VERSION = 50706


class RawError(Exception):
    """LibRaw cannot use the file; ``str(error)`` is one sentence a user can read."""


class NotRaw(RawError):
    """LibRaw does not take the file for a RAW at all (a TIFF may still be an ordinary image)."""


@dataclass(frozen=True, slots=True)
class RawPhoto:
    width: int  # of the sensor's picture, before ``orientation`` is applied
    height: int
    orientation: int  # EXIF-style, from LibRaw's flip
    preview: bytes | None  # the embedded JPEG preview, if the camera wrote one and it was asked for


def looks_like_raw(data: bytes) -> bool:
    """Cheap test on the first bytes: worth opening with LibRaw (a plain TIFF without a camera make is not)."""
    head = data[:16]
    if head.startswith(b"FUJIFILMCCD-RAW") or head[:4] in (b"IIRO", b"IIRS", b"MMOR", b"IIU\x00"):
        return True  # RAF, ORF, RW2
    if head[4:8] == b"ftyp" and head[8:12] == b"crx ":
        return True  # CR3
    if head[:4] not in (b"II*\x00", b"MM\x00*"):
        return False
    if head[8:10] == b"CR":  # CR2
        return True
    return bool(_first_ifd_tags(data) & {_TIFF_MAKE, _TIFF_DNG_VERSION})  # NEF, ARW, DNG, ...


def may_be_plain_tiff(data: bytes) -> bool:
    """A TIFF that LibRaw may decline and Pillow still read (not a CR2: its header says RAW)."""
    return data[:4] in (b"II*\x00", b"MM\x00*") and data[8:10] != b"CR"


def _first_ifd_tags(data: bytes) -> set[int]:
    """The tag numbers of a TIFF's first directory (empty when it is damaged)."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        offset = struct.unpack_from(order + "I", data, 4)[0]
        count = struct.unpack_from(order + "H", data, offset)[0]
        return {struct.unpack_from(order + "H", data, offset + 2 + 12 * index)[0] for index in range(count)}
    except struct.error:
        return set()


def open_raw(data: bytes, *, preview: bool = False) -> RawPhoto:
    """Parse the header without decoding the sensor data; with ``preview``, also copy out the embedded JPEG."""
    import rawpy

    with _reading(), rawpy.imread(_WholeFile(data)) as raw:
        sizes = raw.sizes
        jpeg = None
        try:
            thumb = raw.extract_thumb() if preview else None
            if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
                jpeg = bytes(thumb.data)
        except rawpy.LibRawError:  # no preview, or one LibRaw cannot hand over: demosaic instead
            pass
    return RawPhoto(int(sizes.width), int(sizes.height), _FLIP_TO_ORIENTATION.get(int(sizes.flip), 1), jpeg)


def demosaic(data: bytes) -> np.ndarray:
    """Half-size demosaic to RGB uint8, as the sensor saw it (the caller applies ``RawPhoto.orientation``)."""
    import rawpy

    with _reading(), rawpy.imread(_WholeFile(data)) as raw:
        return np.ascontiguousarray(raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8, user_flip=0))


class _WholeFile:
    """What rawpy.imread reads a file object with (one ``read()``), handing over ``data`` itself: io.BytesIO would
    copy a 25 MB RAW each time it is opened."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        return self._data


class _reading:
    """LibRaw's errors as one sentence (a RawError), whatever their type."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or isinstance(error, RawError):
            return False
        import rawpy

        if isinstance(error, rawpy.LibRawFileUnsupportedError):
            raise NotRaw("the RAW file is damaged, or from a camera this version of Pigeonhole does not know"
                         ) from error
        if isinstance(error, (rawpy.LibRawIOError, rawpy.LibRawDataError)):
            raise RawError("the RAW file is damaged or cut short") from error
        if isinstance(error, (rawpy.LibRawTooBigError, rawpy.LibRawUnsufficientMemoryError,
                              rawpy.LibRawMemPoolOverflowError)):
            raise RawError("refused: the RAW file is too large to decode") from error
        if isinstance(error, (rawpy.LibRawError, ValueError, EOFError)):
            raise RawError(f"the RAW file cannot be decoded ({type(error).__name__})") from error
        return False
