"""desktop.io.scan: which files a folder walk finds, and the class-subfolder layout check."""

from __future__ import annotations

from pathlib import Path

import imagemakers as mk

from desktop.io.scan import FoundFile, class_subfolders, scan_images


def test_scan_finds_every_image_once_and_skips_hidden_and_non_images(zoo: Path) -> None:
    found = list(scan_images(zoo))
    paths = [f.rel_path for f in found]
    assert len(paths) == len(set(paths)), "the symlink loop made a file appear twice"
    assert set(paths) == set(mk.GOOD_FILES) | set(mk.BAD_FILES)
    for hidden in mk.HIDDEN_FILES:
        assert hidden not in paths
    assert "good/readme.txt" not in paths
    assert not any(p.startswith("good/loop/") for p in paths)


def test_scan_records_size_and_mtime_and_posix_relative_paths(zoo: Path) -> None:
    by_path = {f.rel_path: f for f in scan_images(zoo)}
    cat = by_path["été/猫 1.JPG"]
    stat = (zoo / "été/猫 1.JPG").stat()
    assert (cat.size, cat.mtime) == (stat.st_size, stat.st_mtime)
    assert cat.top_folder == "été"
    assert FoundFile("root.jpg", 1, 0.0).top_folder is None
    assert FoundFile("a/b/c.jpg", 1, 0.0).top_folder == "a"


def test_symlink_loop_to_parent_terminates(tmp_path: Path) -> None:
    root = tmp_path / "loopy"
    mk.write_jpeg(root / "a" / "x.jpg", 20, 20)
    (root / "a" / "up").symlink_to("..", target_is_directory=True)
    (root / "a" / "self").symlink_to(".", target_is_directory=True)
    (root / "a" / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    (root / "a" / "selfloop.jpg").symlink_to("selfloop.jpg")  # a file symlink loop: ELOOP on stat
    assert [f.rel_path for f in scan_images(root)] == ["a/x.jpg"]


def test_symlinked_folder_outside_the_root_is_followed(tmp_path: Path) -> None:
    mk.write_jpeg(tmp_path / "elsewhere" / "y.jpg", 20, 20)
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert [f.rel_path for f in scan_images(root)] == ["linked/y.jpg"]


def test_skip_folders_are_not_entered(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    mk.write_jpeg(root / "keep.jpg", 20, 20)
    mk.write_jpeg(root / "project.pigeonhole" / "thumbnails" / "ab" / "ab.jpg", 20, 20)
    found = [f.rel_path for f in scan_images(root, skip=(root / "project.pigeonhole",))]
    assert found == ["keep.jpg"]


def test_unreadable_subfolder_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    mk.write_jpeg(root / "ok.jpg", 20, 20)
    mk.write_jpeg(root / "locked" / "x.jpg", 20, 20)
    (root / "locked").chmod(0)
    try:
        found = [f.rel_path for f in scan_images(root)]
    finally:
        (root / "locked").chmod(0o755)
    # As root the folder stays readable; either way the walk completes.
    assert "ok.jpg" in found
    if not mk.is_root():
        assert found == ["ok.jpg"]


def test_class_subfolders_detects_the_layout(tmp_path: Path) -> None:
    root = tmp_path / "sorted"
    mk.write_jpeg(root / "cats" / "1.jpg", 20, 20)
    mk.write_jpeg(root / "Dogs" / "1.JPG", 20, 20)
    mk.write_jpeg(root / ".hidden" / "1.jpg", 20, 20)
    (root / "empty").mkdir()
    assert class_subfolders(root) == ["cats", "Dogs"]


def test_class_subfolders_rejects_other_layouts(tmp_path: Path) -> None:
    one = tmp_path / "one"
    mk.write_jpeg(one / "only" / "1.jpg", 20, 20)
    assert class_subfolders(one) == []  # a single subfolder is not a class layout
    mixed = tmp_path / "mixed"
    mk.write_jpeg(mixed / "a" / "1.jpg", 20, 20)
    mk.write_jpeg(mixed / "b" / "1.jpg", 20, 20)
    mk.write_jpeg(mixed / "loose.jpg", 20, 20)
    assert class_subfolders(mixed) == []  # images in the root itself
    assert class_subfolders(tmp_path / "does-not-exist") == []
