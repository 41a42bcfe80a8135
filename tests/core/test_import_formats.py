"""Importing a folder as people keep it: JPEG, HEIC, AVIF and camera RAW side by side, and broken ones of each."""

from __future__ import annotations

from pathlib import Path

import formatmakers as fm
import imagemakers as mk
from sqlalchemy import select

from desktop.core.importer import import_folder
from desktop.core.project import Project
from desktop.db.models import Image
from desktop.io import images


@fm.needs_heif_enc
def test_a_mixed_folder_imports_every_format_and_lists_each_broken_one(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    heic = fm.heic_bytes(mk.photo_array(96, 64))
    dng = fm.with_preview(fm.dng_bytes(96, 64, orientation=6), mk.photo_array(96, 64, seed=2))
    mk.write_jpeg(root / "cats" / "IMG_0001.JPG", 96, 64)
    mk.write(root / "cats" / "IMG_0002.HEIC", heic)
    mk.write(root / "cats" / "IMG_0003.avif", fm.avif_bytes(mk.photo_array(96, 64, seed=3)))
    mk.write(root / "dogs" / "IMG_0004.DNG", dng)
    mk.write(root / "dogs" / "IMG_0005.dng", fm.dng_bytes(64, 48))  # no preview: demosaiced
    mk.write(root / "dogs" / "renamed.jpg", fm.heic_bytes(mk.photo_array(64, 48, seed=5)))  # HEIC inside
    mk.write(root / "broken" / "empty.heic", b"")
    mk.write(root / "broken" / "cut.heic", heic[: len(heic) // 2])
    mk.write(root / "broken" / "cut.dng", dng[:3000])
    mk.write(root / "broken" / "bomb.dng", fm.with_declared_size(fm.dng_bytes(64, 48), 30000, 30000))
    mk.write(root / "broken" / "text.nef", b"not a photo at all " * 20)

    summary = import_folder(project, root)

    reasons = dict(summary.broken_files)
    assert (summary.imported, summary.broken) == (6, 5), reasons
    assert reasons["broken/empty.heic"] == "the file is empty (0 bytes)"
    assert reasons["broken/bomb.dng"].startswith("refused: 30000×30000 pixels")
    assert all(reason and "\n" not in reason and "Traceback" not in reason for reason in reasons.values())
    with project.sessions() as session:
        rows = dict(session.execute(select(Image.rel_path, Image.content_hash).where(Image.error.is_(None))).all())
        sizes = dict(session.execute(select(Image.rel_path, Image.width).where(Image.error.is_(None))).all())
    assert sizes["dogs/IMG_0004.DNG"] == 64  # the RAW's orientation turns the 96 x 64 picture upright
    for rel_path, digest in rows.items():  # every photo got a thumbnail
        thumbnail = project.thumbnails.read(digest)
        assert thumbnail is not None, rel_path
        assert images.probe(thumbnail).format == "JPEG"
