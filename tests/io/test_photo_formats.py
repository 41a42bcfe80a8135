"""HEIC/HEIF, AVIF and camera RAW (DNG) through ``desktop.io.images``: the one place photos are decoded."""

from __future__ import annotations

from pathlib import Path

import formatmakers as fm
import imagemakers as mk
import numpy as np
import pytest

from desktop.io import heif, images
from desktop.io.images import ImageError


def _is_red(pixel: np.ndarray) -> bool:
    return bool(pixel[0] > 180 and pixel[1] < 80 and pixel[2] < 80)


def _bright(pixel: np.ndarray) -> bool:
    return bool(pixel.mean() > 150)


# --- HEIC and AVIF -----------------------------------------------------------------------------------------------

@fm.needs_heif_enc
def test_heic_is_probed_and_decoded(tmp_path: Path) -> None:
    path = mk.write(tmp_path / "IMG_0001.HEIC", fm.heic_bytes(fm.quadrant_rgb(64, 48)))
    data = images.read_bytes(path)
    info = images.probe(data)
    assert (info.format, info.width, info.height, info.orientation) == ("HEIF", 64, 48, 1)
    pixels = images.load_rgb(path)
    assert pixels.shape == (48, 64, 3)
    assert _is_red(pixels[4, 4]) and not _is_red(pixels[-4, -4])


@fm.needs_heif_enc
@pytest.mark.parametrize(("quarter_turns", "red_corner"), [(1, (-3, 3)), (3, (3, -3))])
def test_heic_rotation_is_applied_once(quarter_turns: int, red_corner: tuple[int, int]) -> None:
    """A phone records a turned photo as an irot property (anticlockwise quarter turns) and repeats it in EXIF;
    the picture is turned by irot alone, not twice."""
    exif_says = {1: 8, 3: 6}[quarter_turns]
    data = fm.with_rotation(fm.heic_bytes(fm.quadrant_rgb(64, 48), exif_orientation=exif_says), quarter_turns)
    info = images.probe(data)
    assert (info.width, info.height) == (48, 64)
    pixels = images.decode(data, info)
    assert pixels.shape == (64, 48, 3)
    assert _is_red(pixels[red_corner]) and not _is_red(pixels[3, 3])


@fm.needs_heif_enc
def test_a_heic_thumbnail_stands_in_when_it_is_large_enough() -> None:
    """HEVC cannot decode at 1/8 size like JPEG: the phone's embedded thumbnail makes import 10x faster."""
    data = fm.heic_bytes(fm.quadrant_rgb(640, 480), thumbnail=320)
    small = images.decode(data, min_long_side=256)
    assert small.shape == (240, 320, 3)
    assert _is_red(small[10, 10]) and not _is_red(small[-10, -10])
    assert images.decode(data, min_long_side=400).shape == (480, 640, 3)  # more than the thumbnail has
    assert images.decode(data).shape == (480, 640, 3)


@fm.needs_heif_enc
def test_a_heic_thumbnail_turned_otherwise_than_its_photo_is_not_used() -> None:
    data = fm.with_rotation(fm.heic_bytes(fm.quadrant_rgb(640, 480), thumbnail=320), 1)  # the photo alone turned
    assert images.decode(data, min_long_side=256).shape == (640, 480, 3)


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00\x18ftypheic" + bytes(200), bytes(range(256)) * 8,
                                  b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic\x00\x00\x00\x0cmeta"
                                  + b"\xff" * 64])
def test_looking_for_a_heic_thumbnail_in_garbage_finds_none(data: bytes) -> None:
    assert heif.thumbnail_file(data) is None


@fm.needs_heif_enc
def test_heic_thumbnail_is_a_small_jpeg(tmp_path: Path) -> None:
    data = fm.heic_bytes(mk.photo_array(600, 400))
    thumbnail = images.probe(images.make_thumbnail(data))
    assert (thumbnail.format, thumbnail.width, thumbnail.height) == ("JPEG", 256, 171)


def test_avif_orientation_is_applied() -> None:
    data = fm.avif_bytes(fm.quadrant_rgb(60, 40), exif_orientation=6)  # turn 90 degrees clockwise to view
    info = images.probe(data)
    assert (info.width, info.height) == (40, 60)
    pixels = images.decode(data, info)
    assert pixels.shape == (60, 40, 3)
    assert _is_red(pixels[3, -3]) and not _is_red(pixels[3, 3])  # the top-left quarter is now top-right


@fm.needs_heif_enc
def test_a_heic_named_jpg_and_a_jpeg_named_heic_both_decode(tmp_path: Path) -> None:
    """The contents decide the format, never the name."""
    heic = mk.write(tmp_path / "really_heic.jpg", fm.heic_bytes(fm.quadrant_rgb(32, 24)))
    jpeg = mk.write(tmp_path / "really_jpeg.heic", mk.jpeg_bytes(fm.quadrant_rgb(32, 24)))
    assert images.load_rgb(heic).shape == images.load_rgb(jpeg).shape == (24, 32, 3)


@fm.needs_heif_enc
@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_cut_off_heic_is_one_sentence(cut: float) -> None:
    data = fm.heic_bytes(mk.photo_array(64, 48))
    with pytest.raises(ImageError, match=r"damaged|cut short") as caught:
        images.decode(data[: int(len(data) * cut)])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("cut", [0.05, 0.5, 0.98])
def test_a_cut_off_avif_is_one_sentence(cut: float) -> None:
    data = fm.avif_bytes(mk.photo_array(64, 48))
    with pytest.raises(ImageError, match="damaged") as caught:
        images.decode(data[: int(len(data) * cut)])
    assert "\n" not in str(caught.value)


def test_a_heic_header_with_nothing_after_it_is_damaged_not_unsupported() -> None:
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x00\x40meta" + b"\x00" * 200
    with pytest.raises(ImageError, match="the HEIC photo is damaged or cut short"):
        images.probe(data)


@fm.needs_heif_enc
def test_a_heic_claiming_huge_dimensions_is_refused_before_decoding() -> None:
    data = bytearray(fm.heic_bytes(fm.quadrant_rgb(64, 48)))
    spatial_extent = -1
    while (spatial_extent := data.find(b"ispe", spatial_extent + 1)) >= 0:  # 'ispe', version, width, height
        data[spatial_extent + 8: spatial_extent + 16] = (30000).to_bytes(4, "big") * 2
    with pytest.raises(ImageError, match="150 megapixels"):
        images.probe(bytes(data))


# --- camera RAW ----------------------------------------------------------------------------------------------------

def test_dng_without_preview_is_demosaiced() -> None:
    data = fm.dng_bytes(64, 48)
    info = images.probe(data)
    assert (info.format, info.width, info.height) == ("RAW", 64, 48)
    pixels = images.decode(data, info)
    assert pixels.shape == (24, 32, 3)  # half size
    assert _bright(pixels[2, 2]) and not _bright(pixels[-2, -2])


def test_dng_orientation_turns_the_demosaiced_picture() -> None:
    data = fm.dng_bytes(64, 48, orientation=6)
    info = images.probe(data)
    assert (info.width, info.height, info.orientation) == (48, 64, 6)
    pixels = images.decode(data, info)
    assert pixels.shape == (32, 24, 3)
    assert _bright(pixels[2, -2]) and not _bright(pixels[2, 2])  # the bright top-left is now top-right


def test_dng_preview_is_used_and_turned_by_the_raw_orientation() -> None:
    preview = fm.quadrant_rgb(64, 48)  # red, where the demosaic would be grey-white
    data = fm.with_preview(fm.dng_bytes(64, 48, orientation=6), preview)
    pixels = images.decode(data)
    assert pixels.shape == (64, 48, 3)
    assert _is_red(pixels[3, -3]) and not _is_red(pixels[3, 3])


def test_a_preview_smaller_than_asked_gives_way_to_the_demosaic() -> None:
    data = fm.with_preview(fm.dng_bytes(256, 192), fm.quadrant_rgb(32, 24))
    assert _is_red(images.decode(data, min_long_side=32)[1, 1])
    demosaiced = images.decode(data, min_long_side=100)
    assert demosaiced.shape == (96, 128, 3) and not _is_red(demosaiced[1, 1])


def test_a_preview_as_large_as_the_demosaic_is_used_whatever_is_asked() -> None:
    """The photo pane asks for 1600 px; a 64-px RAW's 64-px preview beats its 32-px demosaic (it showed noise)."""
    data = fm.with_preview(fm.dng_bytes(64, 48), fm.quadrant_rgb(64, 48))
    pixels = images.decode(data, min_long_side=1600)
    assert pixels.shape == (48, 64, 3) and _is_red(pixels[1, 1])


def test_a_damaged_preview_falls_back_to_the_sensor_data() -> None:
    data = bytearray(fm.with_preview(fm.dng_bytes(64, 48), fm.quadrant_rgb(64, 48)))
    start = data.index(b"\xff\xd8\xff")
    data[start + 2: start + 40] = b"\x00" * 38  # the preview's header is garbage now
    assert images.decode(bytes(data)).shape == (24, 32, 3)


def test_a_raw_claiming_huge_dimensions_is_refused_before_decoding() -> None:
    data = fm.with_declared_size(fm.dng_bytes(64, 48), 30000, 30000)
    with pytest.raises(ImageError, match="above the 150-megapixel limit"):
        images.probe(data)


@pytest.mark.parametrize("cut", [0.3, 0.8])
def test_a_cut_off_raw_is_one_sentence(cut: float) -> None:
    data = fm.dng_bytes(64, 48)
    with pytest.raises(ImageError) as caught:
        images.decode(data[: int(len(data) * cut)])
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


@pytest.mark.parametrize("magic", [b"FUJIFILMCCD-RAW 0201", b"IIRO\x08\x00\x00\x00", b"IIU\x00\x08\x00\x00\x00",
                                   b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01", b"II*\x00\x10\x00\x00\x00CR\x02\x00"])
def test_garbage_behind_raw_magic_is_one_sentence_about_raw(magic: bytes) -> None:
    with pytest.raises(ImageError, match="RAW file") as caught:
        images.probe(magic + bytes(range(256)) * 4)
    assert "\n" not in str(caught.value)


def test_a_plain_tiff_naming_its_scanner_is_still_a_tiff() -> None:
    """A TIFF with a Make tag is offered to LibRaw first; when LibRaw declines, Pillow and OpenCV read it."""
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    exif = Image.Exif()
    exif[271] = "Scanner Maker"
    Image.fromarray(fm.quadrant_rgb(40, 30)).save(buffer, "TIFF", exif=exif)
    info = images.probe(buffer.getvalue())
    assert (info.format, info.width, info.height) == ("TIFF", 40, 30)


def test_every_raw_extension_is_an_image_name(tmp_path: Path) -> None:
    for name in ("a.CR2", "b.cr3", "c.NEF", "d.arw", "e.RAF", "f.orf", "g.RW2", "h.dng", "i.HEIC", "j.heif"):
        assert images.is_image_path(tmp_path / name), name
