"""desktop.io.images on real files of every kind: probe, decode, reduced decoding, thumbnails, hashing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import imagemakers as mk
import numpy as np
import pytest

from desktop.io import images
from desktop.io.images import ImageError


def _probe_file(path: Path) -> images.ImageInfo:
    return images.probe(images.read_bytes(path))


def _decode_file(path: Path, **kwargs) -> np.ndarray:
    data = images.read_bytes(path)
    return images.decode(data, images.probe(data), **kwargs)


def _assert_rgb8(pixels: np.ndarray, width: int, height: int) -> None:
    assert pixels.dtype == np.uint8
    assert pixels.shape == (height, width, 3)
    assert pixels.flags.c_contiguous


# --- good files -------------------------------------------------------------------------------------------------

def test_photo_jpeg_and_png_probe_and_decode(tmp_path: Path) -> None:
    jpeg = mk.write_jpeg(tmp_path / "a.jpg", 320, 240, seed=1)
    png = mk.write_png(tmp_path / "a.png", 200, 160, seed=1)
    info = _probe_file(jpeg)
    assert (info.format, info.width, info.height, info.orientation, info.has_alpha, info.frames) == (
        "JPEG", 320, 240, 1, False, 1)
    _assert_rgb8(_decode_file(jpeg), 320, 240)
    info = _probe_file(png)
    assert (info.format, info.width, info.height, info.has_alpha) == ("PNG", 200, 160, False)
    decoded = _decode_file(png)
    _assert_rgb8(decoded, 200, 160)
    # PNG is lossless and the decoder returns RGB (not OpenCV's BGR) order.
    np.testing.assert_array_equal(decoded, mk.photo_array(200, 160, seed=1))


def test_jpeg_decode_is_rgb_not_bgr(tmp_path: Path) -> None:
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 220  # strongly red
    path = mk.write(tmp_path / "red.jpg", mk.jpeg_bytes(rgb, quality=95))
    pixel = _decode_file(path)[32, 32].astype(int)
    assert pixel[0] > 200 and pixel[1] < 20 and pixel[2] < 20


def test_cmyk_jpeg_decodes_to_the_right_colours(tmp_path: Path) -> None:
    path = mk.write_cmyk_jpeg(tmp_path / "cmyk.jpg", 200, 150, seed=2)
    info = _probe_file(path)
    assert (info.format, info.width, info.height) == ("JPEG", 200, 150)
    decoded = _decode_file(path)
    _assert_rgb8(decoded, 200, 150)
    original = mk.photo_array(200, 150, seed=2).astype(np.float32)
    # Pillow's CMYK JPEG is Adobe-inverted; a decoder that gets it wrong produces a negative (error ~100+).
    assert np.abs(decoded.astype(np.float32) - original).mean() < 8


@pytest.mark.parametrize("grey", [False, True], ids=["rgb16", "grey16"])
def test_16_bit_png_is_scaled_to_8_bit(tmp_path: Path, grey: bool) -> None:
    path = mk.write_png16(tmp_path / "deep.png", 120, 90, seed=3, grey=grey)
    info = _probe_file(path)
    assert (info.format, info.width, info.height) == ("PNG", 120, 90)
    decoded = _decode_file(path)
    _assert_rgb8(decoded, 120, 90)
    expected = mk.photo_array(120, 90, seed=3)
    if grey:
        expected = cv2.cvtColor(cv2.cvtColor(expected, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    # value*257 >> 8 == value exactly for 8-bit values.
    np.testing.assert_array_equal(decoded, expected)


def test_greyscale_png_becomes_three_equal_channels(tmp_path: Path) -> None:
    path = mk.write_grey_png(tmp_path / "grey.png", 120, 90, seed=4)
    decoded = _decode_file(path)
    _assert_rgb8(decoded, 120, 90)
    assert (decoded[..., 0] == decoded[..., 1]).all() and (decoded[..., 1] == decoded[..., 2]).all()
    expected = cv2.cvtColor(mk.photo_array(120, 90, seed=4), cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(decoded[..., 0], expected)


def test_rgba_png_is_composited_over_the_neutral_background(tmp_path: Path) -> None:
    path = mk.write_rgba_png(tmp_path / "alpha.png", 80, 60)
    info = _probe_file(path)
    assert info.has_alpha
    decoded = _decode_file(path)
    _assert_rgb8(decoded, 80, 60)
    assert tuple(decoded[10, 5]) == mk.RGBA_OPAQUE_COLOUR  # opaque: the colour itself
    assert tuple(decoded[10, 70]) == images.NEUTRAL_BACKGROUND  # transparent: the background, not black
    half = tuple(int(v) for v in decoded[10, 40])  # alpha 128: halfway between
    expected = tuple(round(c * 128 / 255 + b * 127 / 255) for c, b in
                     zip(mk.RGBA_OPAQUE_COLOUR, images.NEUTRAL_BACKGROUND, strict=True))
    assert all(abs(h - e) <= 1 for h, e in zip(half, expected, strict=True))


def test_palette_png_with_transparency_is_composited(tmp_path: Path) -> None:
    from PIL import Image

    image = Image.new("P", (20, 10), 0)
    image.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    image.paste(1, (0, 0, 10, 10))
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    decoded = _decode_file(path)
    assert tuple(decoded[5, 2]) == (10, 200, 10)
    assert tuple(decoded[5, 15]) == images.NEUTRAL_BACKGROUND


def test_animated_gif_uses_the_first_frame(tmp_path: Path) -> None:
    path = mk.write_animated_gif(tmp_path / "anim.gif", 64, 48)
    info = _probe_file(path)
    assert (info.format, info.width, info.height, info.frames) == ("GIF", 64, 48, len(mk.GIF_FRAME_COLOURS))
    decoded = _decode_file(path)
    _assert_rgb8(decoded, 64, 48)
    assert np.abs(decoded.astype(int) - mk.GIF_FRAME_COLOURS[0]).max() <= 8


def test_exif_orientation_6_is_applied(tmp_path: Path) -> None:
    path = mk.write_exif_rotated_jpeg(tmp_path / "rot.jpg", 160, 100, orientation=6)
    info = _probe_file(path)
    # Stored 160x100 landscape; displayed rotated 90 degrees clockwise: portrait 100x160.
    assert (info.orientation, info.width, info.height) == (6, 100, 160)
    decoded = _decode_file(path)
    _assert_rgb8(decoded, 100, 160)
    # The stored top-left red corner ends up top-right after a clockwise quarter turn.
    assert tuple(decoded[5, 100 - 6]) == pytest.approx((255, 0, 0), abs=40)
    assert not np.allclose(decoded[5, 5], (255, 0, 0), atol=40)


@pytest.mark.parametrize(("orientation", "corner"), [
    (1, (0, 0)), (2, (0, -1)), (3, (-1, -1)), (4, (-1, 0)), (5, (0, 0)), (6, (0, -1)), (7, (-1, -1)), (8, (-1, 0)),
])
def test_every_exif_orientation_puts_the_corner_in_the_right_place(tmp_path: Path, orientation: int,
                                                                   corner: tuple[int, int]) -> None:
    """Where the stored top-left corner appears on screen for each EXIF orientation (TIFF spec table)."""
    path = mk.write_exif_rotated_jpeg(tmp_path / "o.jpg", 160, 100, orientation=orientation)
    decoded = _decode_file(path)
    expected_shape = (160, 100) if orientation >= 5 else (100, 160)
    assert decoded.shape[:2] == expected_shape
    row = 5 if corner[0] == 0 else decoded.shape[0] - 6
    col = 5 if corner[1] == 0 else decoded.shape[1] - 6
    assert decoded[row, col, 0] > 215 and decoded[row, col, 1] < 40 and decoded[row, col, 2] < 40


def test_png_exif_orientation_is_read(tmp_path: Path) -> None:
    path = mk.write(tmp_path / "rot.png", mk.png_bytes(mk.photo_array(60, 40), exif_orientation=8))
    info = _probe_file(path)
    assert (info.orientation, info.width, info.height) == (8, 40, 60)
    assert _decode_file(path).shape == (60, 40, 3)


def test_uppercase_and_mixed_case_extensions_are_images(tmp_path: Path) -> None:
    for name in ("A.JPG", "b.JpEg", "c.PNG", "d.Gif", "e.webp", "f.TIFF"):
        assert images.is_image_path(tmp_path / name), name
    for name in ("notes.txt", "photo.jpg.part", "sidecar.xmp", "noext"):
        assert not images.is_image_path(tmp_path / name), name


def test_non_ascii_path_reads(tmp_path: Path) -> None:
    path = mk.write_jpeg(tmp_path / "été" / "猫 1.JPG", 120, 80)
    assert images.load_rgb(path).shape == (80, 120, 3)


# --- bad files ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("writer", "fragment"), [
    (mk.write_truncated_jpeg, "truncated"),
    (mk.write_truncated_png, "truncated"),
    (mk.write_empty, "empty"),
    (mk.write_text_as_image, "not an image"),
    (mk.write_png_bomb, "150"),
    (mk.write_gif_bomb, "150"),
], ids=["truncated-jpeg", "truncated-png", "zero-bytes", "text-as-jpg", "png-bomb", "gif-bomb"])
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, writer, fragment: str) -> None:
    path = writer(tmp_path / "bad.jpg")
    data = images.read_bytes(path)
    with pytest.raises(ImageError) as caught:
        images.decode(data)
    message = str(caught.value)
    assert fragment in message.lower()
    assert message and "\n" not in message and "Traceback" not in message


def test_decompression_bomb_is_refused_quickly_and_cheaply(tmp_path: Path) -> None:
    """A 30000x30000 header in a ~100-byte file is refused from the header, naming the limit."""
    for writer in (mk.write_png_bomb, mk.write_gif_bomb):
        path = writer(tmp_path / "bomb")
        assert path.stat().st_size < 200
        started = time.perf_counter()
        with pytest.raises(ImageError, match=r"150[- ]megapixel") as caught:
            images.make_thumbnail(path.read_bytes())
        assert time.perf_counter() - started < 0.5
        assert "decompression bomb" in str(caught.value)


def test_bomb_just_above_the_limit_names_its_size(tmp_path: Path) -> None:
    data = mk.png_header_bytes(13000, 12000)  # 156 MP: between MAX_PIXELS and Pillow's hard limit
    with pytest.raises(ImageError, match="13000×12000 pixels is above the 150-megapixel limit"):
        images.probe(data)


def test_large_real_camera_sizes_are_not_refused_as_bombs() -> None:
    """100-megapixel medium-format cameras (11648x8736) are below MAX_PIXELS and must not be refused."""
    for width, height in ((11648, 8736), (12000, 12000)):
        assert width * height < images.MAX_PIXELS
        info = images.probe(mk.png_header_bytes(width, height))
        assert (info.width, info.height) == (width, height)


def test_truncated_jpeg_with_padding_after_the_end_marker_is_accepted(tmp_path: Path) -> None:
    data = mk.jpeg_bytes(mk.photo_array(100, 80)) + b"\0" * 1000  # some cameras pad after EOI
    assert images.decode(data).shape == (80, 100, 3)


def test_unreadable_file_real_permissions(tmp_path: Path) -> None:
    if mk.is_root():
        pytest.skip("running as root: chmod 000 does not stop root reading; see the socket and patched tests")
    path = mk.write_jpeg(tmp_path / "locked.jpg", 40, 30)
    path.chmod(0)
    try:
        with pytest.raises(ImageError, match="permission denied"):
            images.read_bytes(path)
    finally:
        path.chmod(0o644)


def test_unreadable_file_socket(tmp_path: Path) -> None:
    """A socket named .jpg: stat works, open() fails even for root (ENXIO)."""
    path = mk.make_socket_file(tmp_path / "socket.jpg")
    with pytest.raises(ImageError, match="cannot read the file"):
        images.read_bytes(path)


def test_read_errors_become_sentences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageError, match="no longer exists"):
        images.read_bytes(tmp_path / "gone.jpg")
    with pytest.raises(ImageError, match="folder"):
        images.read_bytes(tmp_path)
    path = mk.write_jpeg(tmp_path / "x.jpg", 40, 30)

    real_open = os.open

    def denied(name, *args, **kwargs):
        if os.fspath(name) == os.fspath(path):
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(ImageError, match="permission denied"):
        images.read_bytes(path)


def test_corrupt_pixel_data_after_a_valid_header(tmp_path: Path) -> None:
    data = bytearray(mk.jpeg_bytes(mk.photo_array(200, 150)))
    # Keep the headers and the end marker; destroy the entropy-coded data in the middle.
    middle = len(data) // 2
    data[middle - 2000 : middle + 2000] = b"\xff\x00" * 2000
    try:
        pixels = images.decode(bytes(data))
    except ImageError as exc:
        assert str(exc)
    else:  # libjpeg recovers from many corruptions by filling with grey; that is fine too
        assert pixels.shape == (150, 200, 3)


# --- reduced decoding and thumbnails ------------------------------------------------------------------------------

@pytest.mark.parametrize(("width", "height"), [(2400, 1800), (1800, 2400), (2100, 300), (257, 1000), (300, 200)])
def test_reduced_decoding_returns_at_least_the_requested_size(width: int, height: int) -> None:
    data = mk.jpeg_bytes(mk.photo_array(width, height), quality=80)
    info = images.probe(data)
    for min_long in (256, 512):
        decoded = images.decode(data, info, min_long_side=min_long)
        assert max(decoded.shape[:2]) >= min(min_long, max(width, height))
    for min_short in (224, 100):
        decoded = images.decode(data, info, min_short_side=min_short)
        assert min(decoded.shape[:2]) >= min(min_short, min(width, height))
    factor = images.reduction_factor(info, min_long_side=256)
    decoded = images.decode(data, info, min_long_side=256)
    # Really reduced: the decoder returned about 1/factor of each side (libjpeg rounds up).
    assert decoded.shape[:2] == (-(-height // factor), -(-width // factor))
    if max(width, height) == 2400:
        assert factor == 8


def test_reduced_decoding_of_a_rotated_jpeg_keeps_the_displayed_orientation(tmp_path: Path) -> None:
    data = mk.jpeg_bytes(mk.photo_array(2048, 1024), exif_orientation=6)
    decoded = images.decode(data, min_long_side=256)
    assert decoded.shape[:2] == (256, 128)


def test_reduction_factor_edges() -> None:
    info = images.ImageInfo("JPEG", 4000, 3000, 1, False, 1)
    assert images.reduction_factor(info) == 1
    assert images.reduction_factor(info, min_short_side=375) == 8
    assert images.reduction_factor(info, min_short_side=376) == 4
    assert images.reduction_factor(info, min_short_side=3000) == 1
    assert images.reduction_factor(info, min_long_side=1000) == 4


@pytest.mark.parametrize(("width", "height"), [(1600, 1200), (1200, 1600), (2000, 500), (100, 60)])
def test_thumbnail_fits_256_and_keeps_the_aspect(width: int, height: int) -> None:
    data = mk.jpeg_bytes(mk.photo_array(width, height))
    thumb = images.make_thumbnail(data)
    info = images.probe(thumb)
    assert info.format == "JPEG"
    assert max(info.width, info.height) == min(images.THUMBNAIL_SIZE, max(width, height))
    assert abs(info.width / info.height - width / height) < 0.02


def test_thumbnails_of_every_good_kind(zoo: Path) -> None:
    for rel_path, (width, height) in mk.GOOD_FILES.items():
        data = images.read_bytes(zoo / rel_path)
        thumb = images.probe(images.make_thumbnail(data))
        assert max(thumb.width, thumb.height) <= images.THUMBNAIL_SIZE, rel_path
        # The thumbnail is upright: same aspect as the displayed size.
        assert (thumb.width >= thumb.height) == (width >= height), rel_path


def test_resize_to_fit_never_enlarges() -> None:
    small = np.zeros((10, 20, 3), np.uint8)
    assert images.resize_to_fit(small, 256) is small
    assert images.resize_to_fit(np.zeros((1000, 3, 3), np.uint8), 256).shape == (256, 1, 3)


def test_content_hash_is_stable_and_content_based(tmp_path: Path) -> None:
    data = mk.jpeg_bytes(mk.photo_array(100, 80, seed=9))
    first = images.content_hash(data)
    assert first == images.content_hash(bytes(data))
    assert len(first) == 32 and int(first, 16) >= 0
    # Known value, so a change of hash function (which would orphan every thumbnail) is noticed.
    assert images.content_hash(b"pigeonhole") == "5ad789b4d18c48a8eafab2b53b3833fd"
    assert images.content_hash(data[:-1] + b"\0") != first
    copy = mk.write(tmp_path / "copy.jpg", data)
    assert images.content_hash(copy.read_bytes()) == first


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(orientation: int) -> None:
    """Pixel-exact agreement with Pillow's reference implementation of the EXIF orientation table."""
    from PIL import Image, ImageOps

    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[mk.ORIENTATION_TAG] = orientation
    image.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(images._apply_orientation(pixels, orientation), expected)
