"""Reading images safely and fast: header probe, reduced-size decoding, EXIF orientation, alpha, thumbnails.

Every photo the app reads comes through here (import, thumbnails, features, preview, heatmap, checks).
Pillow parses headers lazily (size, orientation, frames) so hostile files are refused before any pixel is
decoded; OpenCV does the decoding because it releases the GIL and decodes JPEGs at 1/2, 1/4 or 1/8 size.
HEIC/HEIF decode through ``pi_heif`` (libheif, registered with Pillow on the first HEIF file), AVIF through
Pillow's own plugin, camera RAW through ``desktop.io.camera_raw``. The format is told by the contents, never
by the file's name.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import features

from desktop.io import camera_raw, heif
from desktop.io.files import FileReadError, read_regular_file
from desktop.io.safe_files import content_hash  # noqa: F401  (one definition; re-exported for the importer)

RAW_EXTENSIONS = frozenset({".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2", ".dng"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".avif",
                              ".heic", ".heif", ".hif"}) | RAW_EXTENSIONS
# Photos a scan lists although they cannot be read, so the user learns why they are left out (none today).
LISTED_EXTENSIONS = IMAGE_EXTENSIONS
HEIC_REASON = "HEIC photos cannot be read by this installation (its pi-heif package is missing); convert them to JPEG"
AVIF_REASON = "AVIF photos are not supported by this installation; convert them to JPEG"
# A RAW's embedded preview stands in for a full decode when nothing smaller was asked and it is at least this
# fraction of the sensor's longer side (cameras embed a full-size or screen-size JPEG; some only a 160-px one).
RAW_PREVIEW_MIN_FRACTION = 0.25
# Refuse images above this many pixels: a 50 KB file can claim 60000x60000 and exhaust memory.
MAX_PIXELS = 150_000_000
# Refuse files above this size before reading them (a sparse 20 GB file, a symlink to a disk): 512 MB holds
# an uncompressed 8-bit RGB TIFF or BMP at the pixel limit (150 MP x 3 bytes = 450 MB) with room to spare.
MAX_FILE_BYTES = 512 * 1024 * 1024
THUMBNAIL_SIZE = 256
NEUTRAL_BACKGROUND = (232, 232, 232)  # what transparent pixels are composited over, RGB

cv2.setNumThreads(1)  # parallelism comes from decoding many files at once, one thread each
with contextlib.suppress(AttributeError):  # older OpenCV builds lack the logging module
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

_REDUCED_COLOR = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}


class ImageError(Exception):
    """The file cannot be used as an image; ``str(error)`` is one sentence a user can read."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str  # Pillow's format name: JPEG, PNG, GIF, ...
    width: int  # as displayed, after EXIF orientation
    height: int
    orientation: int  # EXIF orientation tag, 1 when absent
    has_alpha: bool
    frames: int


def is_image_path(path: Path | str) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_listed_path(path: Path | str) -> bool:
    """A name a folder scan reports: a supported image, or a known photo format it explains it cannot read."""
    return Path(path).suffix.lower() in LISTED_EXTENSIONS


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a whole regular file of at most ``max_bytes``; anything else is an ImageError with the reason."""
    try:
        return read_regular_file(path, max_bytes)
    except FileReadError as exc:
        raise ImageError(exc.reason) from exc


def probe(data: bytes) -> ImageInfo:
    """Parse the header only. Raises ImageError for empty, non-image, truncated or oversized files."""
    if not data:
        raise ImageError("the file is empty (0 bytes)")
    if camera_raw.looks_like_raw(data):
        raw = _probe_raw(data)
        if raw is not None:
            return raw
    if _heif_brand(data) == "HEIC":
        heif.register()
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own ~89-megapixel default; MAX_PIXELS is checked exactly below.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(data))
            width, height = image.size
            # Pillow's PNG getexif() decodes the whole image to look for an eXIf chunk after the pixels;
            # one before them (where the PNG spec puts it) is already in image.info.
            has_exif = image.format != "PNG" or "exif" in image.info
            orientation = int(image.getexif().get(0x0112, 1) or 1) if has_exif else 1
    except PILImage.DecompressionBombError as exc:  # above twice Pillow's limit, so above MAX_PIXELS too
        raise ImageError(f"refused: the image claims more than {MAX_PIXELS // 1_000_000} megapixels "
                         "(possible decompression bomb)") from exc
    except PILImage.UnidentifiedImageError as exc:
        brand = _heif_brand(data)
        readable = heif.is_registered() if brand == "HEIC" else features.check("avif")
        if brand is not None and not readable:
            raise ImageError(HEIC_REASON if brand == "HEIC" else AVIF_REASON) from exc
        if brand is not None:
            raise ImageError(f"the {brand} photo is damaged or cut short") from exc
        raise ImageError("not an image: the contents do not match any supported image format") from exc
    except Exception as exc:  # Pillow raises many types for corrupt headers
        raise ImageError(f"the image header is damaged ({type(exc).__name__})") from exc
    if width <= 0 or height <= 0:
        raise ImageError("the image has no pixels")
    if width * height > MAX_PIXELS:
        raise ImageError(f"refused: {width}×{height} pixels is above the {MAX_PIXELS // 1_000_000}-megapixel "
                         "limit (possible decompression bomb)")
    if image.format == "JPEG" and not _jpeg_is_complete(data):
        raise ImageError("truncated: the file ends before the image data does")
    if image.format == "PNG" and b"IEND" not in data[-64:]:
        raise ImageError("truncated: the file ends before the image data does")
    if orientation not in range(1, 9):
        orientation = 1
    if orientation >= 5:  # 5-8 rotate by 90 degrees
        width, height = height, width
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    return ImageInfo(image.format or "?", width, height, orientation, has_alpha,
                     int(getattr(image, "n_frames", 1)))


def _probe_raw(data: bytes) -> ImageInfo | None:
    """A camera RAW's header; None for a TIFF LibRaw does not take as RAW (a scan that names its scanner)."""
    try:
        raw = camera_raw.open_raw(data)
    except camera_raw.NotRaw as exc:
        if camera_raw.may_be_plain_tiff(data):
            return None
        raise ImageError(str(exc)) from exc
    except camera_raw.RawError as exc:
        raise ImageError(str(exc)) from exc
    except ImportError as exc:
        raise ImageError("camera RAW photos cannot be read by this installation (its rawpy package is missing)"
                         ) from exc
    width, height = raw.width, raw.height
    if width <= 0 or height <= 0:
        raise ImageError("the image has no pixels")
    if width * height > MAX_PIXELS:
        raise ImageError(f"refused: {width}×{height} pixels is above the {MAX_PIXELS // 1_000_000}-megapixel "
                         "limit (possible decompression bomb)")
    if raw.orientation >= 5:
        width, height = height, width
    return ImageInfo("RAW", width, height, raw.orientation, False, 1)


def _heif_brand(data: bytes) -> str | None:
    """"HEIC" or "AVIF" for an ISO media file (``ftyp`` box) of the HEIF family, else None."""
    if data[4:8] != b"ftyp":
        return None
    brands = data[8:64]
    if b"avif" in brands or b"avis" in brands:
        return "AVIF"  # reached when this Pillow cannot read AVIF, or the file is damaged
    if any(brand in brands for brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")):
        return "HEIC"
    return None


def _jpeg_is_complete(data: bytes) -> bool:
    # Cameras sometimes pad after the end-of-image marker; a cut-off file has no marker near its end.
    return b"\xff\xd9" in data[-4096:]


def reduction_factor(info: ImageInfo, *, min_short_side: int = 0, min_long_side: int = 0) -> int:
    """Largest of 8, 4, 2 that keeps both sides at least as requested; 1 when no reduction is asked for."""
    if not (min_short_side or min_long_side):
        return 1
    short, long = sorted((info.width, info.height))
    for factor in (8, 4, 2):
        if short // factor >= min_short_side and long // factor >= min_long_side:
            return factor
    return 1


def decode(data: bytes, info: ImageInfo | None = None, *, min_short_side: int = 0,
           min_long_side: int = 0) -> np.ndarray:
    """Decode to an RGB uint8 array (H, W, 3), upright, transparency composited over a neutral grey.

    With ``min_short_side``/``min_long_side`` a large JPEG is decoded at 1/2, 1/4 or 1/8 size, which is
    several times faster; the result may then still be larger than asked and the caller resizes it.
    """
    info = info or probe(data)
    if info.format == "RAW":
        return _apply_orientation(_decode_raw(data, info, min_short_side, min_long_side), info.orientation)
    factor = reduction_factor(info, min_short_side=min_short_side, min_long_side=min_long_side)
    pixels = None
    if info.format in ("JPEG", "PNG", "BMP", "WEBP", "TIFF") and info.frames == 1:
        buffer = np.frombuffer(data, dtype=np.uint8)
        if info.has_alpha:
            pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        else:
            flag = _REDUCED_COLOR[factor] if info.format == "JPEG" else cv2.IMREAD_COLOR
            pixels = cv2.imdecode(buffer, flag | cv2.IMREAD_IGNORE_ORIENTATION)
        if pixels is not None:
            pixels = _to_rgb8(pixels)
    if pixels is None and info.format == "HEIF" and factor > 1:  # a small picture will do: the thumbnail?
        pixels = _heif_thumbnail(data, info, min_short_side, min_long_side)
    if pixels is None:  # GIF, multi-frame files, or anything OpenCV declines
        pixels = _decode_with_pillow(data, factor)
    return _apply_orientation(pixels, info.orientation)


def _decode_raw(data: bytes, info: ImageInfo, min_short_side: int, min_long_side: int) -> np.ndarray:
    """The camera's embedded JPEG preview when it is large enough, else a half-size demosaic; not yet upright."""
    try:
        raw = camera_raw.open_raw(data, preview=True)
        if raw.preview is not None:
            with contextlib.suppress(ImageError):  # a damaged preview: the sensor data may still be fine
                preview = probe(raw.preview)
                short, long = sorted((preview.width, preview.height))
                raw_short, raw_long = sorted((info.width, info.height))
                wanted_long = min_long_side or (0 if min_short_side else RAW_PREVIEW_MIN_FRACTION * raw_long)
                # More than the half-size demosaic gives is not worth it: a preview that large always does.
                if short >= min(min_short_side, raw_short // 2) and long >= min(wanted_long, raw_long // 2):
                    # The RAW's own orientation applies (the caller turns it); the preview's, if any, is ignored.
                    return decode(raw.preview, _upright(preview), min_short_side=min_short_side,
                                  min_long_side=min_long_side)
        return camera_raw.demosaic(data)
    except camera_raw.RawError as exc:
        raise ImageError(str(exc)) from exc


def _heif_thumbnail(data: bytes, info: ImageInfo, min_short_side: int, min_long_side: int) -> np.ndarray | None:
    """The HEIC's embedded thumbnail when it is large enough, no larger than the photo (whose size passed the
    bomb check) and turned like it (libheif turns each by its own properties; one turned differently is not
    trusted), else None."""
    thumbnail = heif.thumbnail_file(data)
    if thumbnail is None:
        return None
    # A damaged thumbnail: the main picture may still be fine.
    with contextlib.suppress(Exception), PILImage.open(io.BytesIO(thumbnail)) as image:
        width, height = image.size
        short, long = sorted((width, height))
        if (short < min_short_side or long < min_long_side or width * height > info.width * info.height
                or (width > height) != (info.width > info.height) or image.format != "HEIF"):
            return None
        return np.asarray(image.convert("RGB")).copy()
    return None


def _upright(info: ImageInfo) -> ImageInfo:
    """The same header with its orientation dropped (sides as stored)."""
    width, height = (info.height, info.width) if info.orientation >= 5 else (info.width, info.height)
    return ImageInfo(info.format, width, height, 1, info.has_alpha, info.frames)


def _to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """OpenCV output (BGR/BGRA/grey, 8/16-bit or float) to RGB uint8 with alpha composited."""
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        pixels = np.clip(np.nan_to_num(pixels.astype(np.float32)) * 255.0, 0, 255).astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    channels = pixels.shape[2]
    if channels == 1:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if channels == 2:  # grey + alpha
        grey, alpha = pixels[..., 0], pixels[..., 1]
        return _composite(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), alpha)
    if channels == 4:
        return _composite(cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB), pixels[..., 3])
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    weight = alpha.astype(np.float32)[..., None] / 255.0
    background = np.array(NEUTRAL_BACKGROUND, dtype=np.float32)
    return (rgb.astype(np.float32) * weight + background * (1.0 - weight) + 0.5).astype(np.uint8)


def _decode_with_pillow(data: bytes, factor: int) -> np.ndarray:
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            image.seek(0)  # animated GIF/WebP/TIFF: the first frame
            if factor > 1 and image.format == "JPEG":
                image.draft("RGB", (image.width // factor, image.height // factor))
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = np.asarray(image.convert("RGBA"))
                return _composite(np.ascontiguousarray(rgba[..., :3]), rgba[..., 3])
            return np.asarray(image.convert("RGB")).copy()
    except Exception as exc:
        raise ImageError(f"the image data is damaged and cannot be decoded ({type(exc).__name__})") from exc


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    if orientation == 1:
        return pixels
    # EXIF orientation 2..8: mirror and/or rotate so the picture is upright.
    operations = {
        2: lambda p: p[:, ::-1],
        3: lambda p: p[::-1, ::-1],
        4: lambda p: p[::-1, :],
        5: lambda p: np.transpose(p, (1, 0, 2)),
        6: lambda p: np.rot90(p, k=-1),
        7: lambda p: np.transpose(p[::-1, ::-1], (1, 0, 2)),  # transverse: top-left goes bottom-right
        8: lambda p: np.rot90(p, k=1),
    }
    return np.ascontiguousarray(operations[orientation](pixels))


def resize_to_fit(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longer side is at most ``max_side``; never enlarges."""
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("could not encode the thumbnail")
    return encoded.tobytes()


def make_thumbnail(data: bytes, info: ImageInfo | None = None, size: int = THUMBNAIL_SIZE) -> bytes:
    """A JPEG whose longer side is ``size`` pixels (or less for small images)."""
    info = info or probe(data)
    return encode_jpeg(resize_to_fit(decode(data, info, min_long_side=size), size))


def load_rgb(path: Path, *, min_short_side: int = 0, min_long_side: int = 0) -> np.ndarray:
    """Read and decode a file in one call (used by training, prediction and the preview)."""
    data = read_bytes(path)
    return decode(data, probe(data), min_short_side=min_short_side, min_long_side=min_long_side)

