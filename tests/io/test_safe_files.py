"""desktop/io/safe_files.py: the one home of crash-safe writing and of the content hash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop.io import safe_files
from desktop.io.thumbnails import ThumbnailStore


def _leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith(safe_files.TEMP_PREFIX))


@pytest.mark.parametrize("durable", [True, False])
def test_atomic_write_replaces_whole_or_not_at_all(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    safe_files.atomic_write(target, lambda handle: handle.write(b"new" * 1000), durable=durable)
    assert target.read_bytes() == b"new" * 1000

    def half_then_fail(handle) -> None:
        handle.write(b"half")
        raise RuntimeError("disk pulled")

    with pytest.raises(RuntimeError):
        safe_files.atomic_write(target, half_then_fail, durable=durable)
    assert target.read_bytes() == b"new" * 1000
    assert _leftovers(tmp_path) == []


def test_a_failed_check_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "weights.bin"
    target.write_bytes(b"good")

    def refuse(temp: Path) -> None:
        raise ValueError(f"bad digest for {temp.stat().st_size} bytes")

    with pytest.raises(ValueError):
        safe_files.atomic_write(target, lambda handle: handle.write(b"corrupt"), check=refuse)
    assert target.read_bytes() == b"good" and _leftovers(tmp_path) == []


def test_atomic_create_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "export.onnx"
    safe_files.atomic_create(target, lambda handle: handle.write(b"first"))
    with pytest.raises(FileExistsError):
        safe_files.atomic_create(target, lambda handle: handle.write(b"second"))
    assert target.read_bytes() == b"first" and _leftovers(tmp_path) == []


def test_hash_file_is_content_hash_of_its_bytes_across_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several read chunks, and a short last one
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(data)
    assert safe_files.hash_file(photo) == safe_files.content_hash(data)
    assert safe_files.content_hash(data[:-1] + b"\0") != safe_files.content_hash(data)


def test_copy_file_returns_size_and_content_hash_and_publish_never_overwrites(tmp_path: Path) -> None:
    data = os.urandom((1 << 20) + 5)
    source = tmp_path / "a.jpg"
    source.write_bytes(data)
    temp = tmp_path / f"{safe_files.TEMP_PREFIX}copy"
    assert safe_files.copy_file(source, temp) == (len(data), safe_files.content_hash(data))
    taken = tmp_path / "taken.jpg"
    taken.write_bytes(b"someone else's photo")
    with pytest.raises(FileExistsError):
        safe_files.publish(temp, taken)
    assert taken.read_bytes() == b"someone else's photo"
    safe_files.publish(temp, tmp_path / "free.jpg")
    assert (tmp_path / "free.jpg").read_bytes() == data


def test_thumbnails_are_written_atomically_through_safe_files(tmp_path: Path) -> None:
    store = ThumbnailStore(tmp_path / "thumbs")
    digest = safe_files.content_hash(b"a photo")
    store.put(digest, b"\xff\xd8jpeg")
    assert store.has(digest) and store.path_for(digest).read_bytes() == b"\xff\xd8jpeg"
    assert store.existing() == {digest}
    assert _leftovers(store.path_for(digest).parent) == []
