"""File names that are safe everywhere and never collide: one home for sorting's and export's naming rules."""

from __future__ import annotations

import os
import re
import unicodedata

_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f/\\:*?"<>|]')  # not allowed on Windows, FAT or exFAT (or a separator)


def name_key(name: str) -> str:
    """What macOS, Windows and FAT drives compare: two names with one key are the same file there
    (case- and composition-insensitive)."""
    return unicodedata.normalize("NFC", name).casefold()


# The longest file name, in bytes, on the common file systems (ext4, APFS, and NTFS's 255 UTF-16 units hold at
# least as many characters): a longer one cannot be created at all.
NAME_MAX = 255


def name_bytes(name: str) -> int:
    """The length of ``name`` as the file system stores it (UTF-8; undecodable bytes count as one each)."""
    return len(os.fsencode(name))


def fit_name(stem: str, tail: str = "", limit: int = NAME_MAX) -> str:
    """``stem + tail`` with the stem shortened, a character at a time from its end, until it fits ``limit`` bytes;
    when even the tail alone does not fit, the whole name is shortened."""
    if name_bytes(stem + tail) <= limit:
        return stem + tail
    if name_bytes(tail) >= limit:
        stem, tail = stem + tail, ""
    while stem and name_bytes(stem + tail) > limit:
        stem = stem[:-1]
    return stem + tail


def numbered(name: str, number: int) -> str:
    """``IMG_1.jpg`` as ``IMG_1 (2).jpg``: the free-name pattern of every file manager. A name already at the
    longest a file name can be loses characters at the end of its stem to make room for " (2)"."""
    stem, suffix = os.path.splitext(name)
    return fit_name(stem, f" ({number}){suffix}")


def safe_folder_name(class_name: str) -> str:
    """A folder name safe on every common file system for a class name (names are checked when made; models
    and projects may be older), and short enough to be created."""
    name = fit_name(_UNSAFE_IN_NAMES.sub("_", class_name).strip()).rstrip(". ")
    return name if name not in ("", ".", "..") else "_unnamed"
